"""When a binding rotates its credentials: pure rules, with the SDK windows they respect.

SDK refresh windows (docs/credential-delivery.md §3): botocore refreshes when
< 15 min remain (advisory) and fails requests when a refresh fails with < 10 min
left; botocore's IMDS path also *extends* an expiry that is < 15 min + 2..10 min
away; the JS SDK refreshes when < 5 min remain, minio-go at 80 % of the lifetime,
minio-py 10 s before expiry.

So a binding serves credentials only in the first part of their life: it
rotates once ``margin`` seconds remain, with ``margin`` = 30 min for a one-hour
session (any client that refetches then gets credentials with > 25 min left, more
than botocore's 15 + 10 min IMDS window), never more than half the lifetime (so
short sessions still rotate at half-life), and a quarter of the lifetime for
long sessions.
"""

from __future__ import annotations

#: botocore's advisory window (900 s) + its largest IMDS jitter (600 s), plus five minutes.
LONG_MARGIN = 1800.0


def rotation_margin(lifetime: float, override: float | None = None) -> float:
    """Seconds before expiry at which new credentials replace the served ones."""
    if override is not None:
        return min(float(override), lifetime)
    return min(lifetime / 2, max(LONG_MARGIN, lifetime / 4))


def needs_rotation(now: float, expiration: float, lifetime: float, override: float | None = None) -> bool:
    return now >= expiration - rotation_margin(lifetime, override)


def sdk_windows(lifetime: float) -> list[dict[str, object]]:
    """How each SDK's refresh rule plays with a credential lifetime (for the drill's report)."""
    out: list[dict[str, object]] = []

    def add(client: str, rule: str, refresh_after: float, note: str) -> None:
        out.append({"client": client, "rule": rule, "refresh_after_s": round(max(refresh_after, 0.0), 1), "note": note})

    add(
        "boto3 / AWS CLI",
        "advisory 900 s, mandatory 600 s before expiry",
        lifetime - 900,
        "always inside the window: a refresh before every signed request"
        if lifetime <= 900
        else "refreshes once < 900 s remain",
    )
    add(
        "JS SDK v3",
        "300 s before expiry (default chain: in the background)",
        lifetime - 300,
        "always inside the window: a refresh on every call" if lifetime <= 300 else "refreshes once < 300 s remain",
    )
    add("minio-py", "10 s before expiry, blocking", lifetime - 10, "refreshes 10 s before expiry")
    add("minio-go", "80 % of the lifetime", lifetime * 0.8, "refreshes at 80 % of the lifetime")
    return out
