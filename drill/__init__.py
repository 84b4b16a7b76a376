"""Local stand-ins for AWS and GitHub used by the tests and the scale-out drill."""
