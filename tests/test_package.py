import subprocess
import sys

import crossview

PUBLIC_NAMES = {"__version__"}


def test_public_names_exist():
    missing = PUBLIC_NAMES - set(dir(crossview))
    assert not missing, f"public names disappeared: {missing}"


def test_cli_version_and_help():
    out = subprocess.run([sys.executable, "-m", "crossview", "version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == crossview.__version__
