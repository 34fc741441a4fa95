"""A TLS front end for the local Docker engine, so that fence_docker can reach it.

Debian's fence_docker (fence-agents 4.12) speaks HTTPS only, with a client
certificate (``ssl_secure`` with ``tlscert``/``tlskey``/``tlscacert``) — the way
dockerd is reached over ``tcp://…:2376`` with ``--tlsverify``. The lab's engine listens
on ``/var/run/docker.sock`` only, so a test generates a private CA, a server
certificate for 127.0.0.1 and a client certificate (``make_pki``), and puts
:class:`DockerTLSFrontend` in front of the socket: it accepts TLS connections on a
loopback port, demands a client certificate signed by that CA, and pipes the bytes to
and from the Unix socket unchanged. It runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOCKER_SOCKET = "/var/run/docker.sock"
#: the Docker Engine API version Debian's fence_docker must be told (its default, 1.11,
#: is refused by current engines)
API_VERSION = "1.41"


@dataclass(frozen=True)
class PKI:
    """PEM files: the CA certificate, the server's and the client's certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def make_pki(directory: Path, days: int = 2) -> PKI:
    """Generate a throw-away CA and the two certificates (EC P-256) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("hastack test CA"))
          .issuer_name(_name("hastack test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, usage: x509.ObjectIdentifier,
             san: list[x509.GeneralName] | None) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now).not_valid_after(until)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = b.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    server = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
                  [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client = leaf("hastack-fencer", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    pki = PKI(directory / "ca.pem", directory / "server-cert.pem", directory / "server-key.pem",
              directory / "cert.pem", directory / "key.pem")
    pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.server_cert.write_bytes(server[0])
    pki.server_key.write_bytes(server[1])
    pki.client_cert.write_bytes(client[0])
    pki.client_key.write_bytes(client[1])
    for p in (pki.server_key, pki.client_key):
        p.chmod(0o600)
    return pki


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()


class DockerTLSFrontend:
    """TLS with client certificates on ``127.0.0.1:port``, piped to the Docker socket.

    ``start()`` returns once the port listens; ``stop()`` closes it. Connections whose
    client certificate is missing or not from the CA fail the handshake."""

    def __init__(self, pki: PKI, socket_path: str = DOCKER_SOCKET, port: int = 0) -> None:
        self.pki = pki
        self.socket_path = socket_path
        self.port = port
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    def _context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.pki.ca_cert))
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_cert_chain(str(self.pki.server_cert), str(self.pki.server_key))
        return ctx

    async def _handle(self, c_reader: asyncio.StreamReader,
                      c_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            d_reader, d_writer = await asyncio.open_unix_connection(self.socket_path)
        except OSError:
            c_writer.close()
            return
        await asyncio.gather(_pipe(c_reader, d_writer), _pipe(d_reader, c_writer))
        for w in (c_writer, d_writer):
            with contextlib.suppress(Exception):
                w.close()

    def start(self) -> DockerTLSFrontend:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(
                    self._handle, "127.0.0.1", self.port, ssl=self._context()))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as e:  # handed to the caller of start()
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=run, name="docker-tls-frontend", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self) -> DockerTLSFrontend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fence_params(self) -> dict[str, str]:
        """fence_docker's device parameters to reach the engine through this front end."""
        return {"ip": "127.0.0.1", "ipport": str(self.port), "ssl_secure": "1",
                "tlscert": str(self.pki.client_cert), "tlskey": str(self.pki.client_key),
                "tlscacert": str(self.pki.ca_cert), "api_version": API_VERSION}
