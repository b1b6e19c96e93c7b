"""The ``field`` command speaks the terminal's language (``LC_ALL``, ``LC_MESSAGES``, ``LANG``):
an engineer's day through the real CLI, with ``LANG=zh_CN.UTF-8`` in Simplified Chinese and with
``LANG=C`` in English, from the shared catalogs."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support.live import LiveServer, run_cli

JOB = "J-0001"
# The English of the CLI's own words: none may be left in the Chinese day.
ENGLISH = re.compile(
    r"\b(enrolled as|pushed|pulled|new jobs|READY|NOT READY|recorded|will sync|next:|severity|fault:|"
    r"customer:|site:|equipment:|drawings:|timeline|nothing recorded|respond in|on site in|overdue|"
    r"no part in the catalog|did you mean|total|checked in|backup system via|not synced|signature:|"
    r"waiting to sync|last sync|open conflicts|server answers|user id|nothing flagged|"
    r"has no verified backup|record the backup first)\b"
)


def day(home: Path, server: LiveServer, lang: str) -> tuple[str, int]:
    """The commands of an engineer's day; all they printed, and the refused swap's exit code."""
    env = {"LANG": lang}
    backup = home.parent / f"backup-{lang}.img"
    backup.write_bytes(os.urandom(64 * 1024))

    def field(*args: str, ok: bool = True) -> str:
        proc = run_cli("field", "--home", str(home), *args, env=env, check=ok)
        return proc.stdout + proc.stderr

    out = [
        field("login", server.url, "--token", server.enrollment("li-wei")),
        field("sync", ok=False),  # 1 when something waits for a person: the words are what count
        field("jobs"),
        field("job", JOB),
        field("ready", ok=False),
        field("checkin", JOB, "--note", "到达"),
    ]
    equipment = re.search(r"\b(EQ-\d+)\b", out[3])
    assert equipment, out[3]
    swap = (
        "swap",
        JOB,
        "--equipment",
        equipment.group(1),
        "--part",
        "PSU-750W:1",
        "--serial-out",
        "A",
        "--serial-in",
        "B",
    )
    refused = run_cli("field", "--home", str(home), *swap, env=env, check=False)
    out.append(refused.stdout + refused.stderr)
    out += [
        field(
            "backup",
            JOB,
            "--scope",
            "system",
            "--method",
            "image",
            "--stored-at",
            "USB-07",
            "--file",
            str(backup),
            "--verified",
        ),
        field("parts", "no-such-part"),
        field("drawings", JOB),
        field("job", JOB),  # the timeline now holds the check-in and the backup, not yet synced
        field("status"),
        field("conflicts"),
    ]
    return "\n".join(out), refused.returncode


def test_the_engineers_day_in_chinese_and_in_english(live_server: LiveServer, tmp_path: Path) -> None:
    zh, zh_code = day(tmp_path / "zh", live_server, "zh_CN.UTF-8")
    en, en_code = day(tmp_path / "en", live_server, "C")
    assert zh_code == en_code == 1  # the same refusal, whatever the language
    for words in (
        "已注册为",
        "已上传",
        "时间线",
        "已在 J-0001 上记录",
        "将会同步",
        "下一步：",
        "部件目录中没有",
        "故障：",
        "已到场签到 到达",
        "[未同步]",
        "等待同步",
        "签字：",
        "尚无经过验证的备份：请先记录备份",  # the refused swap: the laptop's own rule, in words
    ):
        assert words in zh, (words, zh)
    assert not ENGLISH.findall(zh), ENGLISH.findall(zh)
    for words in (
        "enrolled as",
        "pushed",
        "timeline",
        "recorded check-in on J-0001",
        "will sync",
        "next:",
        "no part in",
        "checked in",
        "waiting to sync",
        "has no verified backup yet: record the backup first",
    ):
        assert words in en, (words, en)
