"""Made-up GitHub credentials for the local stand-ins, generated at run time.

They keep the real prefixes (``ghp_`` classic, ``github_pat_`` fine-grained), which code tells token kinds
apart by, but nothing shaped like a credential is ever written into the repository: a secret scanner must
not have to tell a test fixture from a leak.
"""

from __future__ import annotations

import secrets


def made_up_token(prefix: str = "ghp_") -> str:
    return prefix + secrets.token_hex(18)
