"""A server that lies: it answers vault's token and Graph requests with whatever hostile shape a test selects.

Plain HTTP on 127.0.0.1 (vault allows http only to loopback), optionally TLS with a certificate made for another host.
`POST /_mode {"token": MODE, "graph": MODE}` picks the answers; every other request is answered by the current mode.
"""
import base64
import gzip
import json
import socketserver
import ssl
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer

TENANT = "11111111-1111-1111-1111-111111111111"
_bomb = None


def gzip_bomb():
    """About 1 GB of zeros, gzip-compressed (made once, ~1 MB)."""
    global _bomb
    if _bomb is None:
        c = zlib.compressobj(9, zlib.DEFLATED, 31)
        chunk = bytes(1 << 20)
        parts = [c.compress(chunk) for _ in range(1024)]
        parts.append(c.flush())
        _bomb = b"".join(parts)
    return _bomb


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(tid=TENANT):
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"tid": tid, "aud": "https://graph.microsoft.com", "roles": ["User.Read.All"],
                                 "exp": int(time.time()) + 3600}).encode())
    return "%s.%s.%s" % (header, payload, b64url(b"not-a-signature"))


def token_body(**over):
    body = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": jwt()}
    body.update(over)
    return json.dumps(body).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def trickle(self, status, body, ctype="application/json"):
        """Slowloris: one byte per second."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for b in body:
                self.wfile.write(bytes([b]))
                self.wfile.flush()
                time.sleep(1)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/_mode":
            self.server.modes.update(json.loads(raw or b"{}"))
            return self.send(200, b"{}")
        if self.path.endswith("/oauth2/v2.0/token"):
            return self.token(self.server.modes.get("token", "ok"))
        self.send(404, b"{}")

    def token(self, mode):
        if mode == "ok":
            return self.send(200, token_body())
        if mode == "html":
            return self.send(200, b"<html><body>Sign in</body></html>", "text/html")
        if mode == "deep":
            return self.send(200, b'{"access_token":' + b"[" * 100000 + b"]" * 100000 + b"}")
        if mode == "bigstring":
            return self.send(200, token_body(access_token="A" * (10 << 20)))
        if mode == "badutf8":
            return self.send(200, b'{"token_type":"Bearer","expires_in":3599,"access_token":"\xff\xfe\xc3\x28"}')
        if mode.startswith("expires:"):
            return self.send(200, b'{"token_type":"Bearer","access_token":"%s","expires_in":%s}'
                             % (jwt().encode(), mode[len("expires:"):].encode()))
        if mode == "escapes":
            return self.send(401, json.dumps({"error": "invalid_client", "error_codes": [7000999],
                                              "error_description": "AADSTS7000215: \x1b]0;pwned\x07\x1b[2J\u009b31m\u202eInvalid client secret"}).encode())
        if mode == "wrong_tid":
            return self.send(200, token_body(access_token=jwt("99999999-9999-9999-9999-999999999999")))
        if mode == "slow":
            return self.trickle(200, token_body())
        if mode.startswith("retry_after:"):
            return self.send(503, b'{"error":"temporarily_unavailable","error_codes":[50001]}',
                             headers=[("Retry-After", mode[len("retry_after:"):])])
        if mode == "gzip_bomb":
            return self.send(200, gzip_bomb(), headers=[("Content-Encoding", "gzip")])
        if mode == "gzip_truncated":
            return self.send(200, gzip.compress(token_body())[:40], headers=[("Content-Encoding", "gzip")])
        self.send(500, b"{}")

    def do_GET(self):
        if not self.path.startswith("/v1.0/users"):
            return self.send(404, b"{}")
        mode = self.server.modes.get("graph", "ok")
        base = self.server.base
        page = lambda users, link=None: json.dumps(
            dict({"value": users}, **({"@odata.nextLink": link} if link else {}))).encode()
        user = lambda name: {"displayName": name, "userPrincipalName": "u@contoso.onmicrosoft.com", "mail": None,
                             "jobTitle": None, "id": "00000000-0000-0000-0000-000000000001"}
        if mode == "ok":
            return self.send(200, page([user("Adele Vance")]))
        if mode == "surrogate":
            return self.send(200, b'{"value":[{"displayName":"bad \\uD83D\\u0041 pair","userPrincipalName":"\\uDC00lone",'
                                  b'"mail":"\\uD83D","jobTitle":null,"id":"1"}]}')
        if mode == "controls":
            return self.send(200, page([user("\x1b]0;pwned\x07\x1b[2J\u202egnp.exe"), user("=HYPERLINK(\"http://evil.example\",\"x\")")]))
        if mode == "loop":
            return self.send(200, page([user("again")], base + "/v1.0/users?$skiptoken=same"))
        if mode.startswith("link:"):
            return self.send(200, page([user("first")], mode[len("link:"):].replace("BASE", base)))
        if mode == "deep":
            return self.send(200, b'{"value":[{"displayName":' + b"[" * 100000 + b"]" * 100000 + b',"id":"1"}]}')
        if mode == "bigstring":
            return self.send(200, page([user("B" * (10 << 20))]))
        if mode == "array_items":
            return self.send(200, b'{"value":' + b"[" * 100000 + b"]" * 100000 + b'}')
        if mode == "scalar_items":
            return self.send(200, b'{"value":[1,"x",null,[{"id":"1"}]]}')
        if mode == "badutf8":
            return self.send(200, b'{"value":[{"displayName":"\xff\xfe\xc3\x28","id":"1"}]}')
        if mode == "html":
            return self.send(200, b"<html><body>Proxy login</body></html>", "text/html")
        if mode == "slow":
            return self.trickle(200, page([user("slow")]))
        if mode == "gzip_bomb":
            return self.send(200, gzip_bomb(), headers=[("Content-Encoding", "gzip")])
        if mode.startswith("retry_after:"):
            return self.send(503, b'{"error":{"code":"serviceNotAvailable","message":"busy"}}',
                             headers=[("Retry-After", mode[len("retry_after:"):])])
        self.send(500, b"{}")


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True


def start(cert=None, key=None):
    server = Server(("127.0.0.1", 0), Handler)
    server.modes = {}
    scheme = "http"
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    server.base = "%s://127.0.0.1:%d" % (scheme, server.server_address[1])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
