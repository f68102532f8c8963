# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Writes the unusable credential files the bad_input_matrix target feeds the modules, into the folder given."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def key_pem(key, password=None):
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def cert_pem(key, first_day, last_day):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, u"bad-input-matrix")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now + datetime.timedelta(days=first_day))
                   .not_valid_after(now + datetime.timedelta(days=last_day))
                   .sign(key, hashes.SHA256()))
    return certificate.public_bytes(serialization.Encoding.PEM)


def damaged(pem):
    lines = pem.splitlines(True)
    lines[1] = lines[1][:10] + b"AAAA" + lines[1][14:]
    return b"".join(lines)


def main(folder):
    key, other = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for dummy in range(2))
    files = {
        "expired.pem": key_pem(key) + cert_pem(key, -60, -1),
        "not-yet-valid.pem": key_pem(key) + cert_pem(key, 2, 60),
        "mismatched.pem": key_pem(other) + cert_pem(key, -1, 30),
        "encrypted.pem": key_pem(key, b"right") + cert_pem(key, -1, 30),
        "damaged-key.pem": damaged(key_pem(key)) + cert_pem(key, -1, 30),
        "damaged-cert.pem": key_pem(key) + damaged(cert_pem(key, -1, 30)),
        "not-a-certificate.txt": b"not a certificate\n",
        "empty-token": b"",
    }
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(data)
    os.mkdir(os.path.join(folder, "a-folder"))


if __name__ == "__main__":
    main(sys.argv[1])
