"""Measured energy of the gated work, with CodeCarbon's offline tracker (extra ``[measure]``).

CodeCarbon measures energy only: its CPU (RAPL, else a TDP × load model), GPU (NVML) and RAM
figures. Its emissions, country lookup and network calls are not used — cleanshift's own
intensity series stays the one source of gCO2eq/kWh, so the tracker runs offline with a fixed
country code and writes no file. A measurement that fails never fails the job: the reading
says ``unknown`` and why, and the receipt carries that.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .errors import ConfigurationError

MEASURE_INSTALL_HINT = "energy='measured' needs CodeCarbon: pip install 'cleanshift-suite[measure]'"


class EnergySource(str, Enum):
    """Where a receipt's ``energy_kwh`` came from."""

    MEASURED = "measured"  # CodeCarbon around the gated work
    NOMINAL = "nominal"  # the user's power_kw × running time
    GIVEN = "given"  # a kWh figure handed in (e.g. another task's measurement, via XCom)
    UNKNOWN = "unknown"


class EnergyMode(str, Enum):
    """The ``energy=`` argument: measure the work, or use today's behaviour (power_kw)."""

    NOMINAL = "nominal"
    MEASURED = "measured"


@dataclass(frozen=True)
class EnergyReading:
    """One measurement: total kWh, its CPU/GPU/RAM split and CodeCarbon's method."""

    source: EnergySource
    kwh: float | None = None
    cpu_kwh: float | None = None
    gpu_kwh: float | None = None
    ram_kwh: float | None = None
    method: str | None = None
    note: str | None = None


def parse_energy_mode(value: str | EnergyMode) -> EnergyMode:
    """Validate ``energy=`` once, at construction; ``measured`` needs the ``[measure]`` extra."""
    try:
        mode = EnergyMode(value)
    except ValueError:
        raise ConfigurationError(
            f"energy must be 'nominal' (power_kw × running time) or 'measured', got {value!r}"
        ) from None
    if mode is EnergyMode.MEASURED and importlib.util.find_spec("codecarbon") is None:
        raise ConfigurationError(MEASURE_INSTALL_HINT)
    return mode


def check_functional_unit(value: Any) -> tuple[str, float] | None:
    """Validate the SCI functional unit R: ``(name, positive count)`` or None."""
    if value is None:
        return None
    try:
        name, count = value
    except (TypeError, ValueError):
        name = count = None
    if not (isinstance(name, str) and name and isinstance(count, (int, float)) and count > 0):
        raise ConfigurationError(
            f"sci_functional_unit must be (name, positive count), e.g. ('rows', 1e6), got {value!r}"
        )
    return (name, float(count))


class EnergyMeter:
    """Start/stop wrapper around ``codecarbon.OfflineEmissionsTracker`` that never raises."""

    def __init__(self, measure_power_secs: float = 1.0) -> None:
        self.measure_power_secs = measure_power_secs
        self._tracker: Any = None
        self._failure: str | None = None

    def start(self) -> None:
        try:
            from codecarbon import OfflineEmissionsTracker

            # The country code only satisfies the offline tracker; its emissions are ignored.
            self._tracker = OfflineEmissionsTracker(
                country_iso_code="USA",
                output_methods=[],  # no CSV, API, logger or Prometheus output
                log_level="error",
                measure_power_secs=self.measure_power_secs,
                tracking_mode="process",
                allow_multiple_runs=True,
            )
            self._tracker.start()
        except Exception as exc:  # noqa: BLE001 - a measurement must never fail the job
            self._tracker = None
            self._failure = f"CodeCarbon could not start: {type(exc).__name__}: {exc}"

    def stop(self) -> EnergyReading:
        if self._tracker is None:
            return EnergyReading(EnergySource.UNKNOWN, note=self._failure or "meter not started")
        try:
            self._tracker.stop()
            data = self._tracker.final_emissions_data
            method = _method(self._tracker, data)
            return EnergyReading(
                EnergySource.MEASURED,
                kwh=float(data.energy_consumed),
                cpu_kwh=float(data.cpu_energy),
                gpu_kwh=float(data.gpu_energy),
                ram_kwh=float(data.ram_energy),
                method=method,
            )
        except Exception as exc:  # noqa: BLE001 - likewise
            return EnergyReading(
                EnergySource.UNKNOWN,
                note=f"CodeCarbon could not measure: {type(exc).__name__}: {exc}",
            )


def _method(tracker: Any, data: Any) -> str:
    """CodeCarbon's CPU method, e.g. ``intel_rapl``, ``cpu_load`` (TDP × load) or
    ``constant`` (TDP alone), with the CPU model. CodeCarbon 3 keeps the mode on its CPU
    hardware object only (``_mode``); read defensively so a new release degrades to the model."""
    modes = [
        str(getattr(hw, "_mode", ""))
        for hw in getattr(tracker, "_hardware", [])
        if type(hw).__name__ == "CPU"
    ]
    mode = next((m for m in modes if m), "unknown method")
    cpu_model = getattr(data, "cpu_model", None)
    return f"{mode} ({cpu_model})" if cpu_model else mode


# CodeCarbon logs a warning per tracker about parallel instances; the gated work's log is
# not the place for it.
logging.getLogger("codecarbon").setLevel(logging.ERROR)
