"""The gdb remote protocol's framing: ``$payload#checksum`` packets, acks,
the ``}`` escape, the interrupt byte, and the listening socket."""

from __future__ import annotations

import errno
import socket


class Connection:
    """One gdb's connection: packets in, packets out."""

    def __init__(self, conn: socket.socket):
        self.conn = conn
        self.ack = True
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, payload: str | bytes) -> None:
        data = payload.encode("latin-1") if isinstance(payload, str) else payload
        self.conn.sendall(b"$" + data + b"#" + b"%02x" % (sum(data) & 0xFF))
        if self.ack and self.conn.recv(1) == b"-":
            raise OSError(errno.EIO, "gdb refused a packet")

    def recv(self) -> bytes | None:
        """The next packet's payload; b"\\x03" for an interrupt; None at EOF."""
        while True:
            c = self.conn.recv(1)
            if not c:
                return None
            if c == b"\x03":
                return b"\x03"
            if c != b"$":
                continue                    # '+' acks and noise between packets
            buf = bytearray()
            while (c := self.conn.recv(1)) != b"#":
                if not c:
                    return None
                buf += c
            self.conn.recv(2)
            if self.ack:
                self.conn.sendall(b"+")
            return unescape(bytes(buf))

    def interrupted(self) -> bool | None:
        """Without blocking: True when gdb sent an interrupt, None when it
        went away, False otherwise."""
        self.conn.setblocking(False)
        try:
            c = self.conn.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        finally:
            self.conn.setblocking(True)
        if not c:
            return None
        if c == b"\x03":
            self.conn.recv(1)
            return True
        return False

    def close(self) -> None:
        self.conn.close()


def escape(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in (0x23, 0x24, 0x7D, 0x2A):
            out += bytes([0x7D, b ^ 0x20])
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Raises ValueError for an escape at the packet's end."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == 0x7D:
            nxt = next(it, None)
            if nxt is None:
                raise ValueError("a packet ends in an escape")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def listen(spec: str, allow_remote: bool) -> socket.socket:
    """A listening socket for ``[HOST:]PORT`` (loopback unless ``allow_remote``)."""
    import ipaddress

    from ..errors import LibsubstError

    host, _, port = spec.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port_n = int(port)
        if not 0 < port_n < 65536:
            raise ValueError
    except ValueError:
        raise LibsubstError(f"--gdb {spec!r}: expected [HOST:]PORT") from None
    try:
        infos = socket.getaddrinfo(host, port_n, type=socket.SOCK_STREAM)
    except OSError as e:
        raise LibsubstError(f"--gdb {spec!r}: {e}") from None
    family, _, _, _, addr = infos[0]
    if not allow_remote and not ipaddress.ip_address(addr[0]).is_loopback:
        raise LibsubstError(f"--gdb {spec!r}: {host} is not a loopback address; a debugger "
                            "controls the guest, so other addresses need --gdb-allow-remote")
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise LibsubstError(f"--gdb {spec!r}: cannot listen there: {e.strerror}") from None
    sock.listen(1)
    return sock
