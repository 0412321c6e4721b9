"""A real SMTP server for the e2e tests (aiosmtpd): listens on 127.0.0.1:PORT, writes each
message it accepts to DIR as <n>-<recipient>.eml, and refuses (550) every recipient whose
address starts with "refused". Prints "ready" once it listens.

    smtp_server.py PORT DIR                       plain SMTP
    smtp_server.py PORT DIR starttls CERT KEY     offers STARTTLS with CERT/KEY (PEM)
    smtp_server.py PORT DIR smtps CERT KEY        TLS from the first byte (implicit TLS)

Each stored message starts with a line `X-Test-TLS: <how> <version>` saying how it came in:
`none`, `starttls TLSv1.3` or `implicit TLSv1.3`."""
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused"):
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        tls = server.transport.get_extra_info("ssl_object") if server.transport else None
        if tls is None:
            how = "none"
        elif session.ssl is not None:
            how = "starttls %s" % tls.version()
        else:
            how = "implicit %s" % tls.version()
        for rcpt in envelope.rcpt_tos:
            path = os.path.join(self.out, "%06d-%s.eml" % (self.n, rcpt))
            with open(path + ".tmp", "wb") as f:
                f.write(("X-Test-TLS: %s\r\n" % how).encode())
                f.write(envelope.original_content or envelope.content)
            os.rename(path + ".tmp", path)
        return "250 Message accepted for delivery"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    mode = sys.argv[3] if len(sys.argv) > 3 else "plain"
    kwargs = {}
    if mode in ("starttls", "smtps"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[4], sys.argv[5])
        if mode == "starttls":
            kwargs["tls_context"] = context
        else:
            kwargs["ssl_context"] = context
    elif mode != "plain":
        sys.exit("unknown mode %r" % mode)
    controller = Controller(Handler(out), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
