"""Benchmark: governed people writes and reads against plain Django.

10,000 person records with encrypted name, email and demographics, written
through the service layer's bulk path (validation, one data key each, history
rows and the audit chain), against a plain ``bulk_create`` of the same rows into
an unencrypted table without history; then both read back (decrypted).
Targets (issue #2): write ratio <= 5, read ratio <= 3.

    python bench/bench_people.py --database sqlite|postgres
"""

from __future__ import annotations

import datetime
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import parse_args, setup, timed

N = 10_000
REPEAT = 3


def main() -> int:
    args = parse_args(__doc__ or "")
    setup(args.database)

    from django.db import connection, models, transaction

    from governance import services
    from governance.audit import chain
    from governance.crypto import keyring
    from governance.models import Department, Jurisdiction, Person

    class PlainPerson(models.Model):
        """The same columns as Person, unencrypted and without history."""

        id = models.UUIDField(primary_key=True)
        employee_id = models.CharField(max_length=32, unique=True)
        full_name = models.TextField(null=True)
        email = models.TextField(null=True)
        department = models.ForeignKey(
            Department, on_delete=models.PROTECT, related_name="+"
        )
        manager = models.ForeignKey(
            "self", null=True, on_delete=models.PROTECT, related_name="+"
        )
        jurisdiction = models.ForeignKey(
            Jurisdiction, on_delete=models.PROTECT, related_name="+"
        )
        hire_date = models.DateField()
        status = models.CharField(max_length=10)
        user_id = models.BigIntegerField(null=True)
        date_of_birth = models.TextField(null=True)
        gender = models.TextField(null=True)
        ethnicity = models.TextField(null=True)
        disability = models.TextField(null=True)
        classification = models.PositiveSmallIntegerField()
        erased_at = models.DateTimeField(null=True)

        class Meta:
            app_label = "governance"
            db_table = "bench_plainperson"

    with connection.schema_editor() as editor:
        editor.create_model(PlainPerson)

    jurisdiction = Jurisdiction.objects.create(
        code="de", name="Germany", privacy_regime="gdpr"
    )
    department = Department.objects.create(code="bench", name="Bench")
    rng = random.Random(7)
    genders = ["female", "male", "non-binary", "undisclosed"]
    groups = ["group-a", "group-b", "group-c", "group-d", "group-e"]

    def rows(prefix: str) -> list[dict]:
        return [
            {
                "employee_id": f"{prefix}{i:06d}",
                "full_name": f"Person {prefix} {i}",
                "email": f"p{i}.{prefix}@example.com",
                "hire_date": datetime.date(2015 + i % 10, 1 + i % 12, 1 + i % 28),
                "date_of_birth": datetime.date(1960 + i % 40, 1 + i % 12, 1 + i % 28),
                "gender": rng.choice(genders),
                "ethnicity": rng.choice(groups),
                "disability": "no" if i % 11 else "yes",
            }
            for i in range(N)
        ]

    import uuid

    write_gov, write_plain, read_gov, read_plain, read_warm = [], [], [], [], []
    for run in range(REPEAT):
        gov_rows, plain_rows = rows(f"G{run}"), rows(f"P{run}")

        def write_governed() -> None:
            people = [
                Person(department=department, jurisdiction=jurisdiction, **row)
                for row in gov_rows
            ]
            services.people_bulk_create(
                actor=None, reason="benchmark load", people=people
            )

        def write_plain_rows() -> None:
            with transaction.atomic():
                PlainPerson.objects.bulk_create(
                    [
                        PlainPerson(
                            id=uuid.uuid4(),
                            department=department,
                            jurisdiction=jurisdiction,
                            status="active",
                            classification=1,
                            **{
                                k: (v.isoformat() if k == "date_of_birth" else v)
                                for k, v in row.items()
                            },
                        )
                        for row in plain_rows
                    ],
                    batch_size=1000,
                )

        write_plain.append(timed(write_plain_rows))
        write_gov.append(timed(write_governed))

        fields = [
            "full_name",
            "email",
            "date_of_birth",
            "gender",
            "ethnicity",
            "disability",
        ]

        def read_governed(cold: bool = True) -> None:
            if cold:  # every data key unwrapped again, as in a fresh process
                keyring.get_keyring()._cache.clear()
            people = list(Person.objects.filter(employee_id__startswith=f"G{run}"))
            assert len(people) == N
            for p in people:
                for f in fields:
                    getattr(p, f)

        def read_plain_rows() -> None:
            people = list(PlainPerson.objects.filter(employee_id__startswith=f"P{run}"))
            assert len(people) == N
            for p in people:
                for f in fields:
                    getattr(p, f)

        read_plain.append(timed(read_plain_rows))
        read_gov.append(timed(read_governed))
        read_warm.append(timed(lambda: read_governed(cold=False)))

    assert chain.verify().ok, "audit chain must verify after the benchmark"
    sample = Person.objects.filter(employee_id="G0000042").get()
    assert sample.full_name == "Person G0 42"

    def line(label: str, gov: list[float], plain: list[float], target: float) -> bool:
        g, p = statistics.median(gov), statistics.median(plain)
        ratio = g / p
        ok = ratio <= target
        print(
            f"  {label:<5} governed {g * 1e6 / N:7.1f} µs/record ({g:6.3f} s)   "
            f"plain {p * 1e6 / N:7.1f} µs/record ({p:6.3f} s)   "
            f"ratio {ratio:4.2f} (target <= {target:g}) {'PASS' if ok else 'FAIL'}"
        )
        return ok

    print(f"people [{args.database}]: {N:,} records, median of {REPEAT} runs")
    ok = line("write", write_gov, write_plain, 5)
    ok = line("read", read_gov, read_plain, 3) and ok
    warm = statistics.median(read_warm) / statistics.median(read_plain)
    print(
        f"  (read with the process's data-key cache warm: ratio {warm:4.2f}; keys are still fetched per page)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
