"""`sandbox`: the Punchh emulator in this process; the tests here attack real gateway
processes in front of it and read from the sandbox what reached Punchh. `two_brands` and
`serve`: two businesses in one gateway (tests/support/brands.py)."""

from tests.replicas.conftest import sandbox
from tests.support.brands import serve, two_brands

__all__ = ["sandbox", "serve", "two_brands"]
