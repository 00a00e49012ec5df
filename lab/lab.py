#!/usr/bin/env python3
"""Sentinel's lab: a small network of namespaces on this machine, benign traffic and bounded attacks, captured with
tcpdump, and a label manifest in the form POST /sentinel/datasets takes.

Every address is in 198.18.0.0/16 (inside the benchmarking range 198.18.0.0/15), on one bridge in a namespace of
its own; no namespace has a default route or any interface but its own veth, so no packet can leave. Everything
made is removed on exit (also on Ctrl-C or an error): processes, namespaces (with their veths), the lab user.

    lab/run.sh --seed 1 --out /tmp/lab-train          # writes /tmp/lab-train.pcap and /tmp/lab-train.labels.json
    lab/run.sh --seed 2 --out /tmp/lab-test --scale 4 --snaplen 256

The seed decides the attacks' order, the gaps between them, their parameters (ports, counts, rates, modes, word
lists) and the benign clients' choices and think times.
"""
import argparse
import ipaddress
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

LAB_NET = ipaddress.ip_network("198.18.0.0/16")
PREFIX = "npl-"
SWITCH = PREFIX + "sw"
USER = "nplab"

# Servers, benign clients and one address per attack, so that attacker + time window labels a flow unambiguously.
HOSTS = {
    "web": "198.18.0.10",  # HTTP (python http.server) and sshd
    "dns": "198.18.0.11",  # dnsmasq
    "files": "198.18.0.12",  # HTTP with large files and sshd (bulk transfers)
    "c1": "198.18.1.1", "c2": "198.18.1.2", "c3": "198.18.1.3", "c4": "198.18.1.4", "c5": "198.18.1.5",
    "c6": "198.18.1.6", "c7": "198.18.1.7", "c8": "198.18.1.8",
    "scan-syn": "198.18.2.1",
    "scan-connect": "198.18.2.2",
    "scan-udp": "198.18.2.3",
    "flood": "198.18.2.4",
    "brute": "198.18.2.5",
    "slowhttp": "198.18.2.6",
}
CLIENTS = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]
for _name, _address in HOSTS.items():
    assert ipaddress.ip_address(_address) in LAB_NET, _name


def log(*words):
    print(f"[lab {time.strftime('%H:%M:%S')}]", *words, file=sys.stderr, flush=True)


class Lab:
    def __init__(self, work, seed, scale, snaplen):
        self.work = work
        self.rng = random.Random(seed)
        self.seed = seed
        self.scale = scale
        self.snaplen = snaplen
        self.processes = []  # long-running Popen objects (each in its own process group)
        self.namespaces = []
        self.created_user = False
        self.password = "lab-" + "".join(self.rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(10))
        self.stop = threading.Event()
        self.benign_actions = 0
        self.lock = threading.Lock()

    # ---- plumbing

    @staticmethod
    def run(args, check=True, **kw):
        return subprocess.run(args, check=check, stdout=subprocess.DEVNULL if "stdout" not in kw else kw.pop("stdout"),
                              stderr=subprocess.DEVNULL if "stderr" not in kw else kw.pop("stderr"), **kw)

    def ns(self, host, *args, check=True, timeout=None, **kw):
        return self.run(["ip", "netns", "exec", PREFIX + host, *args], check=check, timeout=timeout, **kw)

    def spawn(self, host, args, log_name=None):
        out = open(os.path.join(self.work, (log_name or host) + ".log"), "ab")
        process = subprocess.Popen(["ip", "netns", "exec", PREFIX + host, *args], stdout=out, stderr=out,
                                   stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.work)
        self.processes.append(process)
        return process

    @staticmethod
    def target(address):
        """Refuses any target outside the lab's network (defence in depth: no route leads out anyway)."""
        if ipaddress.ip_address(address) not in LAB_NET:
            raise SystemExit(f"refusing to send traffic to {address}: outside {LAB_NET}")
        return address

    # ---- network

    def build(self):
        leftovers = [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                     if n.startswith(PREFIX)]
        for name in leftovers:
            log("removing a leftover namespace", name)
            self.run(["ip", "netns", "del", name], check=False)
        self.run(["ip", "netns", "add", SWITCH])
        self.namespaces.append(SWITCH)
        self.ns("sw", "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        self.ns("sw", "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        self.ns("sw", "ip", "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0")
        self.ns("sw", "ip", "link", "set", "br0", "up")
        for index, (name, address) in enumerate(HOSTS.items()):
            namespace = PREFIX + name
            self.run(["ip", "netns", "add", namespace])
            self.namespaces.append(namespace)
            self.ns(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            self.ns(name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
            port = f"p{index}"
            # The veth is made with one end in each namespace: nothing appears in the machine's own namespace.
            self.run(["ip", "link", "add", port, "netns", SWITCH, "type", "veth", "peer", "name", "eth0",
                      "netns", namespace])
            self.ns("sw", "ip", "link", "set", port, "master", "br0")
            # Real segment sizes on the wire (no TSO/GSO super-frames, no GRO merging) as on a physical link.
            self.ns("sw", "ethtool", "-K", port, "tso", "off", "gso", "off", "gro", "off", check=False)
            self.ns("sw", "ip", "link", "set", port, "up")
            self.ns(name, "ethtool", "-K", "eth0", "tso", "off", "gso", "off", "gro", "off", "tx", "off", check=False)
            self.ns(name, "ip", "addr", "add", f"{address}/16", "dev", "eth0")
            self.ns(name, "ip", "link", "set", "eth0", "up")
            self.ns(name, "ip", "link", "set", "lo", "up")
            routes = subprocess.run(["ip", "netns", "exec", namespace, "ip", "route", "show", "default"],
                                    capture_output=True, text=True).stdout.strip()
            assert not routes, f"{namespace} has a default route: {routes}"
        log(f"{len(HOSTS)} hosts on br0 in {SWITCH}, addresses in {LAB_NET}")

    # ---- services

    def serve(self):
        www = os.path.join(self.work, "www")
        big = os.path.join(self.work, "files")
        os.makedirs(www)
        os.makedirs(big)
        for index in range(40):
            size = int(self.rng.choice([0.5, 1, 1, 2, 3, 4, 6, 8, 12, 24]) * 1024 * self.rng.uniform(0.5, 1.5))
            with open(os.path.join(www, f"page{index}.html"), "wb") as f:
                f.write(b"<html>" + os.urandom(size) + b"</html>")
        for index in range(6):
            with open(os.path.join(big, f"blob{index}.bin"), "wb") as f:
                f.write(os.urandom(int(self.rng.uniform(0.08, 0.25) * 1024 * 1024)))
        with open(os.path.join(self.work, "upload.bin"), "wb") as f:
            f.write(os.urandom(120 * 1024))
        self.spawn("web", ["python3", "-m", "http.server", "80", "--bind", HOSTS["web"], "--directory", www], "web-http")
        self.spawn("files", ["python3", "-m", "http.server", "80", "--bind", HOSTS["files"], "--directory", big],
                   "files-http")
        self.spawn("dns", ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces",
                           f"--listen-address={HOSTS['dns']}", "--except-interface=lo", "--cache-size=0",
                           f"--pid-file={self.work}/dnsmasq.pid", "--address=/lab.test/198.18.0.10",
                           "--address=/files.lab.test/198.18.0.12", "--address=/gone.test/",
                           "--txt-record=info.lab.test,neuroplex lab", "--mx-host=lab.test,mail.lab.test,10"], "dns")
        # A lab user for ssh (benign logins succeed; the brute force never has the password).
        if subprocess.run(["id", USER], capture_output=True).returncode != 0:
            self.run(["useradd", "-M", "-d", self.work, "-s", "/bin/sh", USER])
            self.created_user = True
        self.run(["chpasswd"], input=f"{USER}:{self.password}".encode())
        os.makedirs("/run/sshd", exist_ok=True)
        key = os.path.join(self.work, "ssh_host_ed25519_key")
        self.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key])
        for host in ("web", "files"):
            config = os.path.join(self.work, f"sshd-{host}.conf")
            with open(config, "w") as f:
                f.write(f"ListenAddress {HOSTS[host]}\nPort 22\nHostKey {key}\nPidFile {self.work}/sshd-{host}.pid\n"
                        "UsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nPermitRootLogin no\n"
                        "StrictModes no\nUseDNS no\nPrintMotd no\nMaxStartups 30:30:100\nMaxAuthTries 3\n"
                        f"AllowUsers {USER}\nLogLevel ERROR\nSubsystem sftp internal-sftp\n")
            self.spawn(host, ["/usr/sbin/sshd", "-D", "-e", "-f", config], f"sshd-{host}")
        self.wait_for(lambda: all(self.open("web", HOSTS[h], p) for h, p in
                                  [("web", 80), ("web", 22), ("files", 80), ("files", 22)]), "services")

    def open(self, from_host, address, port):
        script = f"import socket; socket.create_connection(({address!r}, {port}), 1).close()"
        return self.ns(from_host, "python3", "-c", script, check=False).returncode == 0

    def wait_for(self, condition, what, seconds=20):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise SystemExit(f"{what} did not come up within {seconds} s (logs in {self.work})")

    # ---- capture

    def capture(self, path):
        self.capture_process = self.spawn("sw", ["tcpdump", "-i", "br0", "-n", "-s", str(self.snaplen), "-U",
                                                 "-Z", "root", "-w", path, "ip"], "tcpdump")
        # tcpdump says "listening on" once its filter is attached.
        self.wait_for(lambda: b"listening on" in open(os.path.join(self.work, "tcpdump.log"), "rb").read(), "tcpdump")

    def stop_capture(self):
        time.sleep(0.5)  # the last packets in flight reach the bridge
        self.capture_process.send_signal(signal.SIGINT)
        self.capture_process.wait(timeout=10)

    # ---- benign clients

    def ssh_args(self):
        return ["sshpass", "-p", self.password, "ssh", "-o", "StrictHostKeyChecking=no", "-o",
                "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5",
                "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"]

    def benign_client(self, host, rng):
        web, files, dns = self.target(HOSTS["web"]), self.target(HOSTS["files"]), self.target(HOSTS["dns"])
        names = ["www.lab.test", "api.lab.test", "files.lab.test", "mail.lab.test", "cdn.lab.test", "info.lab.test",
                 "lab.test", "nothing.gone.test"]
        actions = [("http", 30), ("dns", 45), ("http-many", 8), ("ssh", 4), ("bulk-get", 1), ("scp", 1),
                   ("http-404", 3), ("http-head", 3)]
        population, weights = zip(*actions)
        while not self.stop.is_set():
            action = rng.choices(population, weights)[0]
            try:
                if action == "http":
                    self.ns(host, "curl", "-s", "-o", "/dev/null", "-m", "10",
                            f"http://{web}/page{rng.randrange(40)}.html", check=False, timeout=15)
                elif action == "http-many":
                    pages = [f"http://{web}/page{rng.randrange(40)}.html" for _ in range(rng.randint(2, 5))]
                    args = ["curl", "-s", "-m", "15"] + [x for p in pages for x in ("-o", "/dev/null", p)]
                    self.ns(host, *args, check=False, timeout=20)
                elif action == "http-404":
                    self.ns(host, "curl", "-s", "-o", "/dev/null", "-m", "10", f"http://{web}/missing{rng.randrange(99)}",
                            check=False, timeout=15)
                elif action == "http-head":
                    self.ns(host, "curl", "-s", "-I", "-o", "/dev/null", "-m", "10", f"http://{web}/", check=False,
                            timeout=15)
                elif action == "dns":
                    for _ in range(rng.randint(1, 3)):
                        kind = rng.choice(["A", "A", "A", "MX", "TXT"])
                        self.ns(host, "dig", "+tries=1", "+time=2", f"@{dns}", rng.choice(names), kind, check=False,
                                timeout=5)
                elif action == "ssh":
                    server = rng.choice([web, files])
                    command = rng.choice(["uptime", "ls -la /etc | head -40", "cat /etc/os-release", "df -h", "id"])
                    self.ns(host, *self.ssh_args(), f"{USER}@{server}", command, check=False, timeout=20)
                elif action == "bulk-get":
                    limit = rng.choice(["2M", "5M", "20M"])
                    self.ns(host, "curl", "-s", "-o", "/dev/null", "-m", "30", "--limit-rate", limit,
                            f"http://{files}/blob{rng.randrange(6)}.bin", check=False, timeout=35)
                elif action == "scp":
                    self.ns(host, "sshpass", "-p", self.password, "scp", "-q", "-o", "StrictHostKeyChecking=no",
                            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                            "-o", "PubkeyAuthentication=no", os.path.join(self.work, "upload.bin"),
                            f"{USER}@{files}:/dev/null", check=False, timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with self.lock:
                self.benign_actions += 1
            # Think time: mostly short, sometimes a pause of several seconds.
            self.stop.wait(rng.expovariate(1 / 1.2) / self.scale if rng.random() < 0.85 else rng.uniform(3, 8))

    # ---- attacks (each bounded in count and time)

    def attacks(self):
        r, s = self.rng, self.scale
        victims = ["web", "files"]
        top = lambda low, high: str(int(r.randint(low, high) * min(s, 4)))  # nmap knows ~1000 top UDP/TCP ports
        plan = [
            ("scan-syn", "portscan", None, lambda v: ["nmap", "-sS", "-Pn", "-n", "-T4", "--top-ports", top(150, 300),
                                                        "--max-rate", str(r.randint(150, 400)), "--max-retries", "1",
                                                        "--host-timeout", "60s", v]),
            ("scan-connect", "portscan", None, lambda v: ["nmap", "-sT", "-Pn", "-n", "-T4", "--top-ports", top(150, 300),
                                                            "--max-rate", str(r.randint(150, 400)), "--max-retries",
                                                            "1", "--host-timeout", "60s", v]),
            ("scan-udp", "portscan", None, lambda v: ["nmap", "-sU", "-Pn", "-n", "--top-ports", top(30, 60),
                                                        "--max-retries", "1", "--host-timeout", "45s", v]),
            ("flood", "synflood", 80, lambda v: ["hping3", "-q", "-S", "-p", "80", "-i", f"u{r.randint(800, 2500)}",
                                                  "-c", str(int(r.randint(700, 1200) * s)), v]),
            ("brute", "ssh-bruteforce", 22, lambda v: self.hydra(v)),
            ("slowhttp", "slowhttp", 80, lambda v: self.slowhttp(v)),
        ]
        # Brute force makes few connections per run (several passwords each): it runs twice, with other parameters.
        plan.append(next(p for p in plan if p[0] == "brute"))
        r.shuffle(plan)
        return [(attacker, label, port, r.choice(victims), make) for attacker, label, port, make in plan]

    def hydra(self, victim):
        r = self.rng
        words = ["123456", "password", "admin", "qwerty", "letmein", "welcome", "monkey", "dragon", "master", "login",
                 "princess", "abc123", "root", "toor", "changeme", "secret", "pass123", "shadow", "111111", "sunshine",
                 "iloveyou", "trustno1", "football", "baseball"]
        users = [USER, "admin", "root", "test", "oracle", "ubuntu"]
        path = os.path.join(self.work, f"words-{r.randrange(1 << 30)}")
        with open(path + ".pass", "w") as f:
            f.write("\n".join(r.sample(words, min(len(words), int(r.randint(12, 20) * self.scale)))) + "\n")
        with open(path + ".users", "w") as f:
            f.write("\n".join(r.sample(users, r.randint(2, 3))) + "\n")
        return ["hydra", "-I", "-q", "-t", str(r.randint(2, 4)), "-w", "10", "-L", path + ".users", "-P",
                path + ".pass", f"ssh://{victim}"]

    def slowhttp(self, victim):
        r = self.rng
        mode = r.choice(["-H", "-H", "-B"])  # slowloris headers, or slow message bodies (R-U-D-Y)
        return ["slowhttptest", mode, "-c", str(int(r.randint(40, 70) * self.scale)), "-i", str(r.randint(6, 12)),
                "-r", str(r.randint(15, 30)), "-l", str(r.randint(30, 45)), "-x", str(r.randint(16, 32)),
                "-p", "5", "-t", "POST" if mode == "-B" else "GET", "-u", f"http://{victim}/"]

    # ---- the whole run

    def go(self, out):
        pcap, labels = out + ".pcap", out + ".labels.json"
        self.build()
        self.serve()
        self.capture(os.path.join(self.work, "capture.pcap"))
        threads = []
        for index, host in enumerate(CLIENTS):
            thread = threading.Thread(target=self.benign_client, args=(host, random.Random(self.seed * 100 + index)),
                                      daemon=True)
            thread.start()
            threads.append(thread)
        manifest = []
        self.stop.wait(self.rng.uniform(8, 15) * self.scale)  # benign traffic alone first
        for attacker, label, port, victim_host, make in self.attacks():
            victim = self.target(HOSTS[victim_host])
            args = make(victim)
            log(f"attack {label} from {attacker} ({HOSTS[attacker]}) on {victim}: {shlex.join(args)}")
            start = time.time()
            try:
                self.ns(attacker, *args, check=False, timeout=120, cwd=self.work,
                        stdout=open(os.path.join(self.work, attacker + ".log"), "ab"), stderr=subprocess.STDOUT)
            except subprocess.TimeoutExpired:
                log(f"attack {label} hit its 120 s bound")
            end = time.time()
            # Late packets of the attack's connections (retransmissions, resets) start flows a little after it ends.
            entry = {"start": round(start - 0.5, 6), "end": round(end + 5, 6), "attacker": HOSTS[attacker],
                     "victim": victim, "label": label}
            if port is not None:
                entry["port"] = port
            manifest.append(entry)
            self.stop.wait(self.rng.uniform(3, 10))
        self.stop.wait(self.rng.uniform(8, 15) * self.scale)  # and after the last attack
        self.stop.set()
        for thread in threads:
            thread.join(timeout=40)
        self.stop_capture()
        shutil.copyfile(os.path.join(self.work, "capture.pcap"), pcap)
        with open(labels, "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
        log(f"wrote {pcap} ({os.path.getsize(pcap):,} bytes) and {labels}: {len(manifest)} attacks, "
            f"{self.benign_actions} benign actions")

    def cleanup(self):
        self.stop.set()
        for process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for namespace in reversed(self.namespaces):
            # Anything still running in a namespace of ours (e.g. a sshd session) goes with it.
            pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", namespace], stderr=subprocess.DEVNULL)
        if self.created_user:
            subprocess.run(["userdel", USER], stderr=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="path prefix: writes PREFIX.pcap and PREFIX.labels.json")
    parser.add_argument("--scale", type=float, default=1.0, help="more benign activity and bigger attacks (1 = small)")
    parser.add_argument("--keep-logs", action="store_true", help="copy the tools' logs to PREFIX-logs/")
    parser.add_argument("--snaplen", type=int, default=128, help="bytes kept of each packet (tcpdump -s)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the lab makes network namespaces: run it as root")
    work = tempfile.mkdtemp(prefix="neuroplex-lab-")
    os.chmod(work, 0o755)
    lab = Lab(work, args.seed, args.scale, args.snaplen)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(1))
    try:
        lab.go(os.path.abspath(args.out))
    finally:
        lab.cleanup()
        if args.keep_logs:
            logs = os.path.abspath(args.out) + "-logs"
            os.makedirs(logs, exist_ok=True)
            for name in os.listdir(work):
                if name.endswith(".log"):
                    shutil.copy(os.path.join(work, name), logs)
        shutil.rmtree(work, ignore_errors=True)


main()
