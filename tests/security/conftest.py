"""`sandbox`: the Punchh emulator in this process; the tests here attack real gateway
processes in front of it and read from the sandbox what reached Punchh."""

from tests.replicas.conftest import sandbox

__all__ = ["sandbox"]
