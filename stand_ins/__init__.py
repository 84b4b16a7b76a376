"""Local stand-ins for AWS and GitHub, used by the tests, the benchmarks and the scale-out drill; never shipped."""
