"""Investigation packages: the short-lived download links of ``GetPackageUri`` and the zip files they serve.

A link is ``{base}/safedownload/WDATP_Investigation_Package.zip?token=…``: the token names the tenant, the
action and an expiry (sandbox time), signed with a key made at start, like a storage SAS: no bearer token is
needed, and an expired or altered token is refused. The zip is deterministic for an action.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import io
import json
import os
import random
import zipfile
from typing import Optional

DOWNLOAD_PATH = "/safedownload/WDATP_Investigation_Package.zip"
LINK_SECONDS = 300  # sandbox seconds a link stays valid ("a few minutes")
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)
_PROCESSES = ("System", "smss.exe", "csrss.exe", "wininit.exe", "services.exe", "lsass.exe", "svchost.exe",
              "MsMpEng.exe", "SenseNdr.exe", "explorer.exe", "msedge.exe", "OneDrive.exe")


class LinkRefused(Exception):
    """The token is malformed, altered or expired; the message says which."""


class PackageLinks:
    def __init__(self, time_scale: float):
        self._key = os.urandom(32)
        self._time_scale = time_scale

    def link(self, base_url: str, tenant_id: str, action_id: str, now: datetime.datetime) -> str:
        expires = now + datetime.timedelta(seconds=LINK_SECONDS * self._time_scale)
        payload = _b64(json.dumps({"tid": tenant_id, "action": action_id, "exp": expires.timestamp()},
                                  separators=(",", ":")).encode("utf-8"))
        return f"{base_url}{DOWNLOAD_PATH}?token={payload}.{self._sign(payload)}"

    def verify(self, token: Optional[str], now: datetime.datetime) -> tuple:
        """(tenant id, action id) of a valid token; raises LinkRefused."""
        payload, dummy, signature = (token or "").partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            raise LinkRefused("Signature did not match.")
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (ValueError, binascii.Error):
            raise LinkRefused("Signature did not match.") from None
        if now.timestamp() >= claims["exp"]:
            raise LinkRefused("Signed expiry time has passed.")
        return claims["tid"], claims["action"]

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())


def investigation_package(action) -> bytes:
    """A small zip like the real package's folders, the same bytes for the same action."""
    rng = random.Random(f"package/{action.id}")
    files = {
        "Summary.txt": f"Investigation package of {action.dns_name} ({action.machine_id})\r\n"
                       f"Action {action.id}, requested by {action.requestor}: {action.comment}\r\n",
        "Processes/Processes.csv": "ProcessName,ProcessId,SessionId\r\n" + "".join(
            f"{name},{rng.randint(4, 20000)},{rng.randint(0, 2)}\r\n" for name in _PROCESSES * 6),
        "Network connections/ActiveConnections.txt": "".join(
            f"  TCP    10.{rng.randint(10, 15)}.{rng.randint(0, 15)}.{rng.randint(2, 254)}:{rng.randint(49152, 65535)}"
            f"    203.0.113.{rng.randint(2, 250)}:443    ESTABLISHED    {rng.randint(1000, 20000)}\r\n"
            for dummy in range(40)),
        "Installed programs/InstalledPrograms.csv": "Name,Version\r\nMicrosoft Edge,124.0.2478.80\r\n"
                                                    "Microsoft 365 Apps for enterprise,16.0.17531.20140\r\n",
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(zipfile.ZipInfo(name, _ZIP_TIME), text.encode("utf-8"), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
