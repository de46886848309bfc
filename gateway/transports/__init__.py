"""The HTTP clients that can carry calls to Punchh, side by side behind one small contract
(base.py). Chosen by `punchh.http_client`; bench/clients.py measures them."""
