#!/usr/bin/env python3
"""What idle connections cost NCS, and whether a new client still gets in beside them.

Usage (after `./mvnw package -DskipTests`; starts its own NCS from the jar, -Xmx1g as deployed):
    python3 bench/idle_connections.py [--connections 1000] [--silent] [-- --extra.ncs=args]

Opens --connections connections one after the other; each makes one keep-alive request
(GET /v2/health/ready) and then stays idle (with --silent: sends nothing at all). Then a new client asks
for readiness, and the direct buffer pool (jvm_buffer_memory_used_bytes{id="direct"}), the heap (each
after a full GC through jcmd) and the process's RSS are compared with before, per connection still open.
"""
import argparse
import os
import re
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def scrape(management):
    return urllib.request.urlopen("http://127.0.0.1:%d/actuator/prometheus" % management, timeout=30).read().decode()


def total(text, prefix):
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def state(pid, management):
    subprocess.run(["jcmd", str(pid), "GC.run"], capture_output=True, check=True)
    time.sleep(0.5)
    text = scrape(management)
    rss = int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%d/status" % pid).read()).group(1)) / 1024
    return {"direct MiB": total(text, 'jvm_buffer_memory_used_bytes{id="direct"') / 2**20,
            "heap MiB": total(text, 'jvm_memory_used_bytes{area="heap"') / 2**20, "RSS MiB": rss}


def still_open(s):
    s.setblocking(False)
    try:
        return s.recv(65536) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--connections", type=int, default=1000)
    p.add_argument("--silent", action="store_true", help="connections that never send a byte")
    p.add_argument("--jar", default=os.path.join(ROOT, "service/target/ncs.jar"))
    p.add_argument("--port", type=int, default=18380)
    p.add_argument("--management-port", type=int, default=19390)
    p.add_argument("ncs_args", nargs="*")
    args = p.parse_args()
    java = os.path.join(os.environ.get("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64"), "bin", "java")
    process = subprocess.Popen([java, "-Xmx1g", "-XX:+ExitOnOutOfMemoryError", "-jar", args.jar,
                                "--server.port=%d" % args.port, "--management.server.port=%d" % args.management_port,
                                "--server.address=127.0.0.1", "--management.server.address=127.0.0.1"] + args.ncs_args,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    held = []
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/actuator/health/readiness" % args.management_port)
                break
            except OSError:
                time.sleep(0.2)
        before = state(process.pid, args.management_port)
        start = time.time()
        for i in range(args.connections):
            try:
                s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
                if not args.silent:
                    s.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n")
                    if not s.recv(4096).startswith(b"HTTP/1.1 200"):
                        print("connection %d: no 200" % i)
            except OSError as e:
                print("connection %d failed after %.1f s: %r" % (i, time.time() - start, e))
                break
            held.append(s)
        print("opened %d connections in %.1f s" % (len(held), time.time() - start))
        time.sleep(1)
        asked = time.time()
        try:
            answer = urllib.request.urlopen("http://127.0.0.1:%d/v2/health/ready" % args.port, timeout=5).status
        except OSError as e:
            answer = repr(e)
        print("a new client: %s in %.2f s" % (answer, time.time() - asked))
        after = state(process.pid, args.management_port)
        open_now = sum(still_open(s) for s in held)
        print("still open: %d of %d" % (open_now, len(held)))
        for key in before:
            per = (after[key] - before[key]) * 1024 / max(1, open_now)
            print("%s: %.1f before, %.1f after, %.1f KiB per open connection" % (key, before[key], after[key], per))
    finally:
        for s in held:
            s.close()
        process.terminate()
        process.wait(60)


if __name__ == "__main__":
    main()
