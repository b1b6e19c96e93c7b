"""A refusal in the words of the command line: the option at fault and what to type next.

The laptop's rules and the server name the field at fault as records and events name it
(``no_backup_ack``, ``sku``, ``job_id``); the engineer typed options (``--no-backup-ack``,
``--part``, ``JOB``). ``field`` says the option, then the next step.

>>> option_for({"no_backup_ack": "--no-backup-ack"}, "no_backup_ack")
'--no-backup-ack'
>>> option_for({"part": "--part"}, "sku")
'--part'
>>> next_step("part", "J-0001")
'`field parts TEXT` searches the catalog'
>>> in_words("job SR-2026-0001 has no verified backup yet", "no_backup_ack", "--no-backup-ack", None)
'field: job SR-2026-0001 has no verified backup yet (--no-backup-ack)'
"""

from __future__ import annotations

from typing import Callable, Mapping

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """A message translated where it is printed (``pybabel extract`` looks for ``N_``)."""
    return message


# A field named differently from the command's option (or argument) that gives it.
ARGUMENT_OF_FIELD = {
    "sku": "part",
    "equipment_id": "equipment",
    "job_id": "job",
    "waive_reason": "waive",
    "quote_event_id": "quote",
}

# What to do next, by the field a refusal names; {job} is the job as typed.
NEXT_STEP = {
    "no_backup_ack": N_(
        "`field backup {job} --scope system --file FILE --verified` (or `field backup {job} "
        "--waive REASON`), then the swap again; or repeat the swap with --no-backup-ack "
        "(the supervisor's audit will show it)"
    ),
    "quote": N_("`field quote {job} --part SKU:QTY --labour AMOUNT`, then `field approve {job} --by NAME`"),
    "job_id": N_("`field jobs` lists the jobs on this laptop; `field sync` brings newly assigned ones"),
    "part": N_("`field parts TEXT` searches the catalog"),
    "equipment_id": N_("`field job {job}` lists the job's equipment"),
    "again": N_("if that is meant, repeat the command with --again"),
    "file": N_("give the path of the backup file (--file), or its --sha256 and --size"),
}


def option_for(typed: Mapping[str, str], field: str | None) -> str | None:
    """How the engineer types what ``field`` names, from the command's options by destination."""
    if field is None:
        return None
    return typed.get(ARGUMENT_OF_FIELD.get(field, field))


def next_step(field: str | None, job: str | None, _: Gettext = str) -> str | None:
    step = NEXT_STEP.get(field or "")
    return _(step).format(job=job or "JOB") if step else None


def in_words(message: str, field: str | None, option: str | None, step: str | None, _: Gettext = str) -> str:
    """The refusal as printed: the message, the option (else a field no step explains), the step."""
    named = (
        f" ({option})"
        if option
        else (" (" + _("field: {field}").format(field=field) + ")" if field and not step else "")
    )
    return f"field: {message}{named}" + ("\n  " + _("next: {step}").format(step=step) if step else "")
