"""A real boto3 client that serves small pages, so that a command has to follow pagination."""

from typing import Any


class SmallPages:
    """``client``, but every page of its paginators holds at most ``size`` items."""

    def __init__(self, client: Any, size: int) -> None:
        self.client, self.size = client, size

    def get_paginator(self, name: str) -> object:
        return _SmallPaginator(self.client.get_paginator(name), self.size)


class _SmallPaginator:
    def __init__(self, paginator: Any, size: int) -> None:
        self.paginator, self.size = paginator, size

    def paginate(self, **request: object) -> object:
        return self.paginator.paginate(**request, PaginationConfig={"PageSize": self.size})
