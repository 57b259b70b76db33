#!/usr/bin/env python3
# Makes an nkey user for tests (an ed25519 key by openssl, encoded as nats-server and nats.c
# read it: base32 of a prefix byte, the key and a CRC-16/XMODEM):
# prints the public key ("U...") and writes the seed ("SU...") to argv[1].
import base64, subprocess, sys

def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc

def encode(raw):
    c = crc16(raw)
    return base64.b32encode(raw + bytes([c & 0xFF, c >> 8])).decode().rstrip("=")

pem = subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519"], check=True,
                     capture_output=True).stdout
seed = subprocess.run(["openssl", "pkey", "-outform", "DER"], input=pem, check=True,
                      capture_output=True).stdout[-32:]
pub = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=pem, check=True,
                     capture_output=True).stdout[-32:]
user, seed_prefix = 20 << 3, 18 << 3
with open(sys.argv[1], "w") as f:
    f.write(encode(bytes([seed_prefix | (user >> 5), (user & 31) << 3]) + seed) + "\n")
print(encode(bytes([user]) + pub))
