"""What some stages need from the system, installed with apt-get when missing: Chromium (browser) and Java
(eda).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shutil
import subprocess

from paths import ROOT
from processes import SetupError, run_logged, say


# The browser stage's Chromium: Debian's (installed with apt-get when missing), driven by Playwright from noxfile.py's
# session browser (its own browser downloads are never used).
CHROMIUM = '/usr/bin/chromium'

# The eda stage's Java: ansible-rulebook's rule engine runs in it (Debian's openjdk-17 when missing).
JAVA_MIN = 17  # ansible-rulebook refuses to start with an older Java
JAVA_PACKAGE = 'openjdk-17-jre-headless'


def apt_install(package, what, find, log):
    """What ``find()`` finds, after installing Debian's ``package`` with apt-get when it finds nothing (as root, else
    with sudo -n; ``apt-get update`` and again only if the install fails). ``what`` names the missing thing."""
    found = find()
    if found:
        return found
    wanted = "Debian's %s package: as root, apt-get install %s" % (package, package)
    missing = ('apt-get' if not shutil.which('apt-get')
               else 'sudo' if os.geteuid() != 0 and not shutil.which('sudo') else None)
    if missing:
        raise SetupError('%s is missing and there is no %s to install it; install %s' % (what, missing, wanted))
    say("Installing Debian's %s with apt-get; log: %s" % (package, os.path.relpath(log, ROOT)))
    apt = ([] if os.geteuid() == 0 else ['sudo', '-n']) + [
        'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=300']
    install = apt + ['install', '--no-install-recommends', package]
    if run_logged(install, log) != 0:  # the package lists may be missing or old
        run_logged(apt + ['update'], log)
        run_logged(install, log)
    found = find()
    if not found:
        raise SetupError('%s is missing and apt-get could not install it (see %s); install %s'
                         % (what, os.path.relpath(log, ROOT), wanted))
    return found


def ensure_chromium(log):
    """Debian's chromium at CHROMIUM."""
    apt_install('chromium', CHROMIUM, lambda: os.access(CHROMIUM, os.X_OK), log)


def java_home(java):
    """The java.home of a java program that is JAVA_MIN or newer, else None."""
    try:
        result = subprocess.run([java, '-XshowSettings:properties', '-version'], capture_output=True, text=True,
                                timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    settings = dict(re.findall(r'^\s*(java\.home|java\.specification\.version) = (.*)$', result.stderr, re.M))
    version = settings.get('java.specification.version', '')
    return settings.get('java.home') if version.isdigit() and int(version) >= JAVA_MIN else None


def find_java_home():
    """The home of the first Java JAVA_MIN+ of $JAVA_HOME, PATH and Debian's openjdk-17 (which apt-get may install
    without making it the default java), or None."""
    candidates = [os.path.join(os.environ['JAVA_HOME'], 'bin', 'java')] if os.environ.get('JAVA_HOME') else []
    candidates.append(shutil.which('java'))
    candidates.extend(sorted(glob.glob('/usr/lib/jvm/java-%d-openjdk-*/bin/java' % JAVA_MIN)))
    homes = (java_home(java) for java in candidates if java and os.access(java, os.X_OK))
    return next((home for home in homes if home), None)


def ensure_java(log):
    """A Java JAVA_MIN+ for ansible-rulebook (JAVA_PACKAGE installed when there is none); its JAVA_HOME for the
    stage."""
    return {'JAVA_HOME': apt_install(JAVA_PACKAGE, 'Java %d or later' % JAVA_MIN, find_java_home, log)}
