#!/usr/bin/env python3
"""Captures the request bodies that a real `git push` sends over smart HTTP.

Regenerates the push_*.bin fixtures beside this file (and seeds for
tests/fuzz/corpus/pktline): a throwaway HTTP server answers the ref
advertisement and runs the real `git receive-pack --stateless-rpc` on every
POST, recording the body. Commits use fixed names and dates so that the
object ids are stable for one git version (these were made with git 2.39.5).

    python3 capture_pushes.py [output-dir]
"""
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading


def pkt(data):
    return b"%04x" % (len(data) + 4) + data


class Server(http.server.BaseHTTPRequestHandler):
    repo = None
    bodies = []

    def do_GET(self):
        adv = subprocess.run(
            ["git", "receive-pack", "--stateless-rpc", "--advertise-refs",
             self.repo], capture_output=True, check=True).stdout
        self.reply(pkt(b"# service=git-receive-pack\n") + b"0000" + adv,
                   "application/x-git-receive-pack-advertisement")

    def do_POST(self):
        # git sends small push bodies with Content-Length, never gzipped.
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Server.bodies.append(body)
        out = subprocess.run(
            ["git", "receive-pack", "--stateless-rpc", self.repo],
            input=body, capture_output=True, check=True).stdout
        self.reply(out, "application/x-git-receive-pack-result")

    def reply(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def git(cwd, *args):
    env = dict(os.environ,
               GIT_AUTHOR_NAME="Ada", GIT_AUTHOR_EMAIL="ada@example.com",
               GIT_COMMITTER_NAME="Ada", GIT_COMMITTER_EMAIL="ada@example.com",
               GIT_AUTHOR_DATE="1700000000 +0000",
               GIT_COMMITTER_DATE="1700000000 +0000",
               GIT_CONFIG_NOSYSTEM="1", HOME=cwd)
    done = subprocess.run(["git", "-c", "protocol.version=0", *args],
                          cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("git %s failed:\n%s" % (" ".join(args), done.stderr))


def capture(work, object_format, pushes):
    """Runs `pushes` (steps made by `step`) against a fresh upstream and
    returns the body of the POST each one made."""
    upstream = os.path.join(work, object_format + ".git")
    client = os.path.join(work, object_format)
    subprocess.run(["git", "init", "-q", "--bare",
                    "--object-format=" + object_format, upstream], check=True)
    subprocess.run(["git", "-C", upstream, "config",
                    "receive.advertisePushOptions", "true"], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main",
                    "--object-format=" + object_format, client], check=True)
    Server.repo = upstream
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Server)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/repo.git" % httpd.server_address[1]
    git(client, "remote", "add", "origin", url)
    bodies = []
    for run in pushes:
        before = len(Server.bodies)
        run(client, upstream, url)
        assert len(Server.bodies) == before + 1
        bodies.append(Server.bodies[-1])
    httpd.shutdown()
    return bodies


def step(args, commits=(), shallow=False):
    """A push of `args` after committing `files` on each (branch, files);
    with `shallow`, from a fresh depth-1 clone of the upstream instead."""
    def run(client, upstream, url):
        if shallow:
            client = client + "-shallow"
            git(os.path.dirname(client), "clone", "-q", "--depth=1", "-b", "main",
                "file://" + upstream, client)
            git(client, "remote", "set-url", "origin", url)
        for branch, files in commits:
            git(client, "checkout", "-q", "-B", branch)
            for name, text in files.items():
                with open(os.path.join(client, name), "w") as f:
                    f.write(text)
                git(client, "add", name)
                git(client, "commit", "-q", "-m", "add " + name)
            git(client, "checkout", "-q", "main")
        git(client, "push", "origin", *args)
    return run


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    work = tempfile.mkdtemp(prefix="tether-capture-")
    try:
        create, update, delete, shallow = capture(work, "sha1", [
            step(["main"], [("main", {"README": "hello\n"})]),
            step(["-o", "ci.skip", "-o", "reviewer=ada lovelace", "main",
                  "feature"], [("main", {"b.txt": "b\n"}),
                               ("feature", {"a.txt": "a\n"})]),
            step([":feature"]),
            step(["main"], [("main", {"c.txt": "c\n"})], shallow=True),
        ])
        (sha256,) = capture(work, "sha256", [
            step(["main"], [("main", {"README": "hello\n"})]),
        ])
        for name, body in [("push_create.bin", create),
                           ("push_update_options.bin", update),
                           ("push_delete.bin", delete),
                           ("push_shallow.bin", shallow),
                           ("push_sha256.bin", sha256)]:
            with open(os.path.join(out, name), "wb") as f:
                f.write(body)
            print(name, len(body))
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
