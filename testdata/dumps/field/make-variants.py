#!/usr/bin/env python3
# Writes the field variants of real dumps (see README.md): run from this
# directory; the output is deterministic.
import gzip, io, json, os

SRC = ".."


def read(rel):
    with open(os.path.join(SRC, rel), "rb") as f:
        return f.read()


def write(name, b):
    with open(name, "wb") as f:
        f.write(b)


def gz(b, mtime):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=mtime, filename="") as z:
        z.write(b)
    return out.getvalue()


j17 = read("hotspot/jdk17-jstack-4703.txt")
j25 = read("hotspot/jdk25-jstack-l-5543.txt")
k17 = read("hotspot/jdk17-kill3-stdout-4703.txt")
k25 = read("hotspot/jdk25-kill3-stdout-5543.txt")
j9 = read("openj9/javacore.20261125.215007.4242.0001.txt")

# 1. Encodings.
write("jdk17-jstack-4703.utf16le-bom-crlf.txt", b"\xff\xfe" + j17.replace(b"\n", b"\r\n").decode("utf-8").encode("utf-16-le"))
write("jdk25-jstack-l-5543.utf16be-bom.txt", b"\xfe\xff" + j25.decode("utf-8").encode("utf-16-be"))
write("jdk17-jstack-4703.utf8-bom.txt", b"\xef\xbb\xbf" + j17)
lines = j17.split(b"\n")
assert lines[0] == b"2026-11-25 13:36:45"
write("jdk17-jstack-4703.ts-blanks-logline.txt",
      b"\n".join([lines[0] + b"  \t", b"2026-11-25 13:36:45.012 INFO  [main] c.e.App - heartbeat"] + lines[1:]))

# 2. Truncation.
i = j17.index(b"nid=0x1280")  # "cpu-spinner": cut inside its nid, 0x12 is no thread's
write("jdk17-jstack-4703.cut-mid-nid.txt", j17[: i + len(b"nid=0x12")])
i = j25.index(b"\n\tat ", j25.index(b'"rlock-waiter"')) + 1  # mid-frame of rlock-waiter
write("jdk25-jstack-l-5543.cut-mid-frame.txt", j25[: i + 12])
i = j9.index(b"(native thread ID:0x10A3")  # 'say "hi", then leave': cut inside its native ID
write("javacore.4242.cut-mid-thread.txt", j9[: i + len(b"(native thread ID:0x10")])

# 3. Javacore with 1TIDATETIMEUTC (OpenJ9 0.27+): 21:50:07 in Zurich (CET) is 20:50:07 UTC.
write("javacore.4242.utc.txt", j9.replace(
    b"1TIDATETIME    Date: 2026/11/25 at 21:50:07:123\n",
    b"1TIDATETIMEUTC Date: 2026/11/25 at 20:50:07:123 (UTC)\n"
    b"1TIDATETIME    Date: 2026/11/25 at 21:50:07:123\n"
    b"1TITIMEZONE    Timezone: UTC+1 (CET)\n", 1))

# 4. A TID listed twice (object-waiter's nid corrupted into monitor-blocked's),
# and a header wrapped at column 100 by a log system (inside cpu-spinner's nid).
write("jdk17-jstack-4703.dup-tid.txt", j17.replace(b"nid=0x127d in Object.wait()", b"nid=0x127c in Object.wait()", 1))
h = j17.index(b'"cpu-spinner"')
e = j17.index(b"\n", h)
assert j17[h:e].index(b"nid=0x1280") < 100 < j17[h:e].index(b"nid=0x1280") + 10
write("jdk17-jstack-4703.wrapped-header.txt", j17[: h + 100] + b"\n" + j17[h + 100:])

# 5. Log collectors' prefixes.
def prefixed(src, fmt, other=None):
    out = []
    for n, l in enumerate(src.rstrip(b"\n").split(b"\n")):
        out.append(fmt + l)
        if other and n % 40 == 7:
            out.append(other)
    return b"\n".join(out) + b"\n"

fake = b'"not-a-thread" #99 prio=5 os_prio=0 tid=0x1 nid=0x1267 runnable  [0x0]'
write("jdk17-kill3-stdout-4703.journald-short.txt",
      b"-- Logs begin at Wed 2026-11-25 09:00:01 CET, end at Wed 2026-11-25 13:40:00 CET. --\n" +
      prefixed(k17, b"Nov 25 13:36:54 app01 java[4703]: ", b"Nov 25 13:36:54 app01 sshd[999]: " + fake))
write("jdk17-kill3-stdout-4703.journald-short-iso.txt", prefixed(k17, b"2026-11-25T13:36:54+0100 app01 java[4703]: "))
write("jdk17-kill3-stdout-4703.journald-short-precise.txt",
      prefixed(k17, b"Nov 25 13:36:54.123456 app01 java[4703]: ", b"Nov 25 13:36:54.123470 app01 other[77]: " + fake))

cri = []
for n, l in enumerate(k25.rstrip(b"\n").split(b"\n")):
    ts = b"2026-11-25T12:37:13.%09dZ" % (100000000 + n)
    if l.startswith(b'"cpu-spinner"'):
        # The runtime split this line: partial pieces, a stderr line between them.
        cri.append(ts + b" stdout P " + l[:30])
        cri.append(ts + b" stderr F " + fake)
        cri.append(ts + b" stdout P " + l[30:70])
        cri.append(ts + b" stdout F " + l[70:])
    else:
        cri.append(ts + b" stdout F " + l)
    if n % 50 == 3:
        cri.append(ts + b" stderr F " + fake)
write("jdk25-kill3-stdout-5543.cri.log", b"\n".join(cri) + b"\n")

dock = []
for n, l in enumerate(k25.rstrip(b"\n").split(b"\n")):
    t = "2026-11-25T12:37:13.%09dZ" % (100000000 + n)
    s = l.decode("utf-8")
    if s.startswith('"cpu-spinner"'):
        dock.append(json.dumps({"log": s[:40], "stream": "stdout", "time": t}, separators=(",", ":")))
        dock.append(json.dumps({"log": fake.decode() + "\n", "stream": "stderr", "time": t}, separators=(",", ":")))
        dock.append(json.dumps({"log": s[40:] + "\n", "stream": "stdout", "time": t}, separators=(",", ":")))
    else:
        dock.append(json.dumps({"log": s + "\n", "stream": "stdout", "time": t}, separators=(",", ":")))
write("jdk25-kill3-stdout-5543.docker-json.log", ("\n".join(dock) + "\n").encode())

# 6. gzip, told by magic bytes (no .gz in the name); cut short; corrupt.
g = gz(j17, 1795624605)  # 2026-11-25T12:36:45Z, the dump's own time
write("jdk17-jstack-4703.gzip-noext.txt", g)
write("jdk17-jstack-4703.gzip-cut.txt", g[: len(g) * 2 // 3])
bad = bytearray(g)
bad[len(bad) // 2] ^= 0xFF
write("jdk17-jstack-4703.gzip-corrupt.txt", bytes(bad))

# 7. No timestamp line.
write("jdk17-jstack-4703.no-timestamp.txt", b"\n".join(lines[1:]))

# 8. A thread name in Latin-1 (a dump re-encoded by a tool, or a JVM with
# a Latin-1 default charset): "café-worker" with é as one byte 0xE9.
write("jdk17-jstack-4703.latin1-name.txt", j17.replace("café-worker".encode(), b"caf\xe9-worker", 1))

# 9. Every line longer than 100 characters wrapped, as `fold -w 100` (a
# terminal or log system of fixed width) does.
def fold(b, width):
    out = []
    for l in b.decode("utf-8").split("\n"):
        while len(l) > width:
            out.append(l[:width])
            l = l[width:]
        out.append(l)
    return "\n".join(out).encode("utf-8")

write("jdk17-jstack-4703.fold-100.txt", fold(j17, 100))
