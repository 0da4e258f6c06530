"""The options the commands share, each declared once, and what they become in the core.

Flags become a :class:`~cleanshift_core.providers.ProviderSpec`, a
:class:`~cleanshift_core.job.JobSpec` and :class:`~cleanshift_core.policies.SchedulingRules`;
the core's own validation speaks for them.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from ..errors import ConfigurationError
from ..policies import OnProviderError, Policy
from ..providers import ProviderSpec, build_provider, provider_kinds
from ..providers.base import GridIntensityProvider
from ..request import WindowRequest
from ..timeutil import SYSTEM_CLOCK, Clock
from .app import FixedClock

R = TypeVar("R")

#: Provider names cleanshift 0.1 used, mapped to today's registry names.
PROVIDER_ALIASES = {"electricitymap": "electricitymaps"}

_PROVIDERS_HELP = (
    f"Intensity source: one of {', '.join(provider_kinds())} (checked when the command runs, "
    "so providers registered later work too); 'electricitymap' is accepted for electricitymaps."
)
_SECRET_ENV_HELP = "or env CLEANSHIFT_<PROVIDER>_<OPTION>, e.g. CLEANSHIFT_ELECTRICITYMAPS_API_KEY"

DurationOpt = Annotated[
    str, typer.Option("--duration", help="How long the job runs, e.g. 2h, 30m, 1h30m.")
]
MaxDelayOpt = Annotated[
    str, typer.Option("--max-delay", help="Latest start, relative to now, e.g. 24h.")
]
FinishByOpt = Annotated[
    str | None,
    typer.Option(
        "--finish-by", help="Latest finish, ISO time with offset, e.g. 2026-01-02T06:00Z."
    ),
]
PolicyOpt = Annotated[Policy, typer.Option("--policy", help="How to pick the start.")]
MaxIntensityOpt = Annotated[
    float | None,
    typer.Option("--max-intensity", help="Limit in gCO2eq/kWh for threshold-type policies."),
]
MinSavingsOpt = Annotated[
    float, typer.Option("--min-savings-pct", help="Do not wait for a smaller gain (%).")
]
OnErrorOpt = Annotated[
    OnProviderError,
    typer.Option("--on-provider-error", help="What to do when no provider can answer."),
]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="Plan as of this ISO instant instead of the clock (past files)."),
]


@dataclass(frozen=True)
class ProviderFlags:
    """The provider flags of one command, as given (``None`` where not given).

    Each field is also its typer option, declared here once: :func:`provider_options` puts
    them, in this order, into the ``--help`` and signature of every command that reads a
    provider.
    """

    region: Annotated[
        str | None, typer.Option("--region", help="Grid region, e.g. DE, GB, CAISO_NORTH.")
    ] = None
    kind: Annotated[str, typer.Option("--provider", help=_PROVIDERS_HELP)] = "mock"
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help=f"API key (Electricity Maps); {_SECRET_ENV_HELP}."),
    ] = None
    zone: Annotated[
        str | None, typer.Option("--zone", help="Zone; overrides --region (Electricity Maps).")
    ] = None
    username: Annotated[str | None, typer.Option("--username", help="Username (WattTime).")] = None
    password: Annotated[
        str | None,
        typer.Option(
            "--password", help="Password (WattTime); or env CLEANSHIFT_WATTTIME_PASSWORD."
        ),
    ] = None
    path: Annotated[
        Path | None, typer.Option("--path", help="CSV or JSON series for --provider file.")
    ] = None
    replay: Annotated[
        bool, typer.Option("--replay", help="Map the file onto the present, as a live forecast.")
    ] = False
    speedup: Annotated[
        float | None,
        typer.Option("--speedup", help="Time compression for a replayed file or the mock (demos)."),
    ] = None
    extra: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Any other provider option as KEY=VALUE (repeatable), e.g. -o emission_factor_type=direct.",
        ),
    ] = None

    def build(self) -> GridIntensityProvider:
        """The flags as a ProviderSpec, built by the same registry Airflow and Prefect use.

        Only flags the user gave become options, so each provider's own validation speaks; the
        secrets become ``SecretStr`` inside the spec and are never printed. Credentials may come
        from ``CLEANSHIFT_<PROVIDER>_<OPTION>`` instead (they stay out of ``ps``); the provider
        name in the variable keeps one provider's key from reaching another.
        """
        name = PROVIDER_ALIASES.get(self.kind, self.kind)
        kinds = provider_kinds()
        if name not in kinds:
            raise ConfigurationError(
                f"unknown provider {echoable(self.kind)}; choose one of {', '.join(kinds)}"
            )
        if name == "file" and self.path is None:
            raise ConfigurationError(
                "--provider file needs --path FILE (a CSV or JSON intensity series)"
            )
        options: dict[str, Any] = {}
        if self.zone or self.region:
            options["region"] = self.zone or self.region
        secrets = (
            ("api_key", self.api_key),
            ("username", self.username),
            ("password", self.password),
        )
        for key, value in secrets:
            if value is None:
                value = os.environ.get(f"CLEANSHIFT_{name.upper()}_{key.upper()}")
            if value is not None:
                options[key] = value
        if self.path is not None:
            options["path"] = str(self.path)
        if self.replay:
            options["replay"] = True
        if self.speedup is not None:
            options["speedup"] = self.speedup
        for item in self.extra or []:
            if "=" not in item:
                raise ConfigurationError(
                    f"--option {echoable(item)} needs the form KEY=VALUE, e.g. -o lat=52.5"
                )
            options.update(ProviderSpec.parse(f"{name}:{item}").options)
        return build_provider(ProviderSpec(name, options))


#: The flags when none is given (the mock provider): the default of a command's
#: ``ProviderFlags`` parameter, so that the function can also be called directly.
NO_PROVIDER_FLAGS = ProviderFlags()


def provider_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give ``command`` the provider options and call it with them as one :class:`ProviderFlags`.

    The command declares one parameter of type ``ProviderFlags`` where the options belong in
    its ``--help``. typer builds a command from its ``inspect.signature``, which honours
    ``__signature__``: there the parameter is replaced by the fields of :class:`ProviderFlags`
    (names, typer options and defaults), and a call gathers them back into it. So the options
    are declared once and every command builds its ``ProviderFlags`` the same way.
    """
    signature = inspect.signature(command, eval_str=True)
    slot = next(
        (name for name, p in signature.parameters.items() if p.annotation is ProviderFlags), None
    )
    if slot is None:
        raise TypeError(f"{command.__name__} has no ProviderFlags parameter to put the options in")
    hints = get_type_hints(ProviderFlags, include_extras=True)
    flags = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=f.default,
            annotation=hints[f.name],
        )
        for f in fields(ProviderFlags)
    ]
    parameters: list[inspect.Parameter] = []
    for name, parameter in signature.parameters.items():
        parameters.extend(flags if name == slot else [parameter])

    @functools.wraps(command)
    def with_provider_flags(**given: Any) -> R:
        values = {f.name: given.pop(f.name) for f in fields(ProviderFlags)}
        return command(**given, **{slot: ProviderFlags(**values)})

    with_provider_flags.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_provider_flags.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_provider_flags


def echoable(text: str) -> str:
    """``text`` quoted if it looks like a name; anything else may hold a pasted secret (a JSON
    spec with an api_key, ``key:value``), so it is described, not echoed."""
    if re.fullmatch(r"[\w.-]{1,64}", text):
        return repr(text)
    return f"(a {len(text)}-character value that is not a provider name; it is not shown)"


def window_from_flags(
    *,
    duration: str,
    max_delay: str | None,
    finish_by: str | None,
    policy: Policy,
    max_intensity: float | None,
    min_savings_pct: float,
    on_provider_error: OnProviderError,
) -> WindowRequest:
    """The window flags as the core's :class:`~cleanshift_core.request.WindowRequest`, the one
    declaration the Airflow and Prefect front doors use too (``--finish-by`` is read here, so
    its message names the flag)."""
    return WindowRequest.create(
        duration=duration,
        max_delay=max_delay,
        finish_by=instant(finish_by, "--finish-by") if finish_by else None,
        policy=policy.value,
        max_intensity=max_intensity,
        min_savings_pct=min_savings_pct,
        on_provider_error=on_provider_error.value,
    )


def instant(text: str, flag: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{flag} {text!r} is not an ISO time; e.g. 2026-01-02T06:00Z"
        ) from None
    if value.tzinfo is None:
        raise ConfigurationError(
            f"{flag} {text!r} has no UTC offset; add one, e.g. {text}Z or {text}+01:00"
        )
    return value.astimezone(timezone.utc)


def clock_from(now: str | None) -> Clock:
    return FixedClock(instant(now, "--now")) if now else SYSTEM_CLOCK
