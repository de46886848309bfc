"""scripts/ensure-apt.sh as a user who is not root (issue 20, finding 7), run for real
with small fakes of `id`, `sudo` and `apt-get` first on PATH: each records how it was
called, and the fake apt-get "installs" a package by writing its command. What the script
decides (apt-get directly as root, through sudo otherwise, or a message naming the command
to run by hand) is the real script's; the one case not covered is sudo asking for a
password on a terminal."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ensure-apt.sh"
TOOL = "lg-fake-tool"  # the command the package provides: on no real PATH

FAKE_ID = '#!/bin/sh\n[ "$1" = -u ] && echo "$UID_TO_SAY" || /usr/bin/id "$@"\n'
FAKE_APT = f"""#!/bin/sh
echo "apt-get $*" >> "$CALLS"
case " $* " in *" install "*) printf '#!/bin/sh\\n' > "$BIN/{TOOL}"; chmod +x "$BIN/{TOOL}";; esac
"""
# sudo -n: password-less when SUDO_NOPASSWD is set, else it would ask (and -n refuses).
FAKE_SUDO = """#!/bin/sh
[ "$1" = -n ] && { [ -n "$SUDO_NOPASSWD" ] || exit 1; shift; }
echo "sudo $*" >> "$CALLS"
[ "$1" = true ] && exit 0
exec "$@"
"""


def _run(
    tmp_path: Path, *, uid: int, sudo: str | None
) -> tuple[subprocess.CompletedProcess[str], str]:
    """ensure-apt.sh for a missing package, with fake commands; its result and the calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fakes = {"id": FAKE_ID, "apt-get": FAKE_APT}
    if sudo is not None:
        fakes["sudo"] = FAKE_SUDO
    for name, text in fakes.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    for tool in ("cat", "chmod", "env", "mktemp", "rm", "tail"):  # and no real sudo
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    calls = tmp_path / "calls"
    calls.touch()
    env = {
        "PATH": str(bin_dir),
        "UID_TO_SAY": str(uid),
        "CALLS": str(calls),
        "BIN": str(bin_dir),
        "SUDO_NOPASSWD": "1" if sudo == "nopasswd" else "",
    }
    done = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT), f"fake-package:{TOOL}"],
        env=env,
        stdin=subprocess.DEVNULL,  # no terminal: sudo cannot ask for a password
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done, calls.read_text()


def test_root_runs_apt_get_itself(tmp_path: Path) -> None:
    done, calls = _run(tmp_path, uid=0, sudo="nopasswd")
    assert done.returncode == 0, done.stderr
    assert "sudo" not in calls
    assert "apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends " in calls


def test_a_user_with_password_less_sudo_installs_through_it(tmp_path: Path) -> None:
    done, calls = _run(tmp_path, uid=1000, sudo="nopasswd")
    assert done.returncode == 0, done.stderr
    assert calls.splitlines() == [
        "sudo true",
        "sudo apt-get -o DPkg::Lock::Timeout=300 update -qq",
        "apt-get -o DPkg::Lock::Timeout=300 update -qq",
        "sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install "
        "-y -qq --no-install-recommends fake-package",
        "apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends fake-package",
    ]
    assert (tmp_path / "bin" / TOOL).exists()


def test_a_user_whose_sudo_asks_a_password_without_a_terminal_is_told_the_command(
    tmp_path: Path,
) -> None:
    done, calls = _run(tmp_path, uid=1000, sudo="password")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "ensure-apt: cannot install fake-package: installing needs root (sudo asks for a "
        "password, and there is no terminal): run sudo apt-get install -y fake-package"
    )
    assert "apt-get" not in calls


def test_a_user_without_sudo_is_told_what_to_install(tmp_path: Path) -> None:
    done, calls = _run(tmp_path, uid=1000, sudo=None)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "ensure-apt: cannot install fake-package: installing needs root and there is no "
        "sudo: as root, run apt-get install -y fake-package"
    )
    assert calls == ""
