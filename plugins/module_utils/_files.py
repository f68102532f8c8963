# -*- coding: utf-8 -*-
# Copyright: (c) 2026, secops.m365_defender contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files only their owner may read (token caches, investigation packages), written whole or not at all."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

PRIVATE_MODE = 0o600


class FolderError(OSError):
    """The folder cannot take a new file (missing, not writable): the error names the folder, not the file."""


def write_private(path, write, binary=False):
    """Write a file of mode 0600 atomically: `write(stream)` fills a temporary file in the same folder, which then
    replaces `path` (a symbolic link at `path` is replaced, never written through). Raises FolderError when the
    folder cannot take the file, OSError otherwise; on any error the temporary file is removed and `path` is left
    as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".%s." % os.path.basename(path))
    except OSError as exc:
        raise FolderError(exc.errno, exc.strerror, folder)
    try:
        os.fchmod(handle, PRIVATE_MODE)
        with os.fdopen(handle, "wb" if binary else "w") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
