"""Hardware config loading, validation errors, the driver registry and entry points."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from magscope_app.hardware import Camera, LinearMotor, Motor, registry
from magscope_app.hardware.config import (
    ConfigError,
    create_device,
    default_config,
    load_config,
)
from magscope_app.hardware.settings import Setting
from magscope_app.hardware.simulated import SimulatedCamera, SimulatedFocus, WorldControl

CONFIGS = Path(__file__).resolve().parents[2] / "hardware" / "configs"


class AcmeCamera(Camera):
    """A third-party camera for the entry-point test."""

    def __init__(self, name: str, *, serial: str, gain: float = 1.0) -> None:
        super().__init__(name)
        self.serial, self.gain = serial, gain

    def settings(self) -> list[Setting]:
        return []

    def _read_setting(self, name):
        raise KeyError(name)

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def read_frame(self, timeout):
        return None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.toml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> ConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)  # every error names the file
    return info.value


SIM_MOTORS = """
[motors.magnet_height]
driver = "simulated.magnet_height"
limits = [0.5, 10.0]
"""


def test_default_config_is_the_simulated_microscope():
    config = default_config()
    assert config.camera.driver == "simulated.camera"
    assert {n: s.driver for n, s in config.motors.items()} == {
        "magnet_height": "simulated.magnet_height",
        "magnet_rotation": "simulated.magnet_rotation",
        "focus": "simulated.focus",
    }
    assert load_config(None).motors["focus"].limits == (-5000.0, 5000.0)


def test_shipped_simulated_config_matches_the_default():
    shipped = load_config(CONFIGS / "simulated.toml")
    default = default_config()
    assert shipped.camera.driver == default.camera.driver
    for name, spec in default.motors.items():
        assert (shipped.motors[name].driver, shipped.motors[name].limits) == (
            spec.driver,
            spec.limits,
        )
    assert shipped.simulation["n_beads"] == 20


def test_shipped_rig_config_validates_against_the_serial_drivers():
    pytest.importorskip("magscope_app.hardware.zaber")
    pytest.importorskip("magscope_app.hardware.pi")
    rig = load_config(CONFIGS / "zaber_pi_rig.toml")
    assert rig.motors["magnet_height"].params["port"] == "/dev/ttyUSB0"
    assert rig.motors["focus"].limits == (0.0, 100000.0)
    assert rig.other == {"tracking": {"roi_size": 64}}


def test_core_sections_are_returned_untouched(tmp_path):
    path = _write(tmp_path, '[daemon]\nname = "x"\n[tracking]\nroi = 64\n')
    config = load_config(path)  # no hardware sections: the simulated microscope
    assert config.other == {"daemon": {"name": "x"}, "tracking": {"roi": 64}}
    assert config.camera.driver == "simulated.camera"


def test_create_devices_from_config(tmp_path):
    path = _write(
        tmp_path,
        """
[camera]
driver = "simulated.camera"
width = 64
height = 48
[motors.focus]
driver = "simulated.focus"
limits = [-100.0, 100.0]
speed = 5000.0
[simulation]
n_beads = 2
n_reference_beads = 0
""",
    )
    config = load_config(path)
    camera = create_device(config.camera, instance=None)
    focus = create_device(config.motors["focus"], instance=None)
    assert isinstance(camera, SimulatedCamera) and camera.width == 64
    assert camera.get_setting("n_beads") == 2
    assert isinstance(focus, SimulatedFocus) and focus.limits == (-100.0, 100.0)
    assert focus.get_setting("speed") == 5000.0
    camera.close()
    focus.close()


def test_simulated_devices_attach_to_the_instance_world(instance_name):
    block = WorldControl.create(instance_name)
    try:
        focus = create_device(default_config().motors["focus"], instance=instance_name)
        focus.set_setting("speed", 1e7)
        focus.move_to(250.0)
        focus.wait_until_stopped(timeout=10.0)
        assert block.position("focus") == 250.0
        focus.close()
    finally:
        block.unlink()


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[camera]\ndriver = "simulated.kamera"\n', "camera.driver", "unknown driver"),
        ("[camera]\nwidth = 3\n", "camera.driver", "missing"),
        ('[camera]\ndriver = "simulated.camera"\nwidth = "big"\n', "camera.width", "must be int"),
        ('[camera]\ndriver = "simulated.camera"\nwidht = 3\n', "camera.widht", "unknown key"),
        ('[camera]\ndriver = "simulated.focus"\n', "camera.driver", "is not a Camera"),
        (SIM_MOTORS, "camera", "missing [camera]"),
        (
            '[camera]\ndriver = "simulated.camera"\n[motors.magnet_height]\n'
            'driver = "simulated.magnet_height"\nlimits = [5.0, 1.0]\n',
            "motors.magnet_height.limits",
            "must be below",
        ),
        (
            '[camera]\ndriver = "simulated.camera"\n[motors.magnet_height]\n'
            'driver = "simulated.magnet_height"\nlimits = [1.0, "2"]\n',
            "motors.magnet_height.limits",
            "two numbers",
        ),
        (
            '[camera]\ndriver = "simulated.camera"\n[motors.magnet_height]\n'
            'driver = "simulated.magnet_height"\nlimits = [1.0, 2.0, 3.0]\n',
            "motors.magnet_height.limits",
            "two numbers",
        ),
        (
            '[camera]\ndriver = "simulated.camera"\n[motors.magnet_height]\n'
            'driver = "simulated.focus"\nlimits = [1.0, 2.0]\n',
            "motors.magnet_height.driver",
            "is not a LinearMotor",
        ),
        (
            '[camera]\ndriver = "simulated.camera"\n[motors.focus]\n'
            'driver = "simulated.focus"\nspeed = true\n',
            "motors.focus.speed",
            "must be",
        ),
        (
            '[camera]\ndriver = "simulated.camera"\n[motors.focus]\n'
            'driver = "simulated.focus"\nname = "x"\n',
            "motors.focus.name",
            "unknown key",
        ),
        (
            '[camera]\ndriver = "simulated.camera"\n[simulation]\nn_bead = 3\n',
            "simulation.n_bead",
            "unknown simulation parameter",
        ),
        (
            '[camera]\ndriver = "simulated.camera"\n[simulation]\nn_beads = 2.5\n',
            "simulation.n_beads",
            "must be int",
        ),
        (
            '[camera]\ndriver = "simulated.camera"\n[simulation]\nbead_radius_nm = -1.0\n',
            "simulation",
            "bead_radius_nm must be > 0",
        ),
        (
            '[motors]\nfocus = 3\n[camera]\ndriver = "simulated.camera"\n',
            "motors.focus",
            "must be a table",
        ),
    ],
)
def test_validation_errors_name_file_key_and_problem(tmp_path, text, key, problem):
    error = _error(tmp_path, text)
    assert error.key == key
    assert problem in error.problem
    assert f": {key}: " in str(error)


def test_serial_driver_needs_its_port(tmp_path):
    pytest.importorskip("magscope_app.hardware.zaber")
    error = _error(
        tmp_path,
        """
[camera]
driver = "simulated.camera"
[motors.magnet_height]
driver = "zaber.linear"
limits = [1.0, 10.0]
microstep_mm = 0.0001
""",
    )
    assert (error.key, error.problem.split(" ")[0]) == ("motors.magnet_height.port", "missing")
    error = _error(
        tmp_path,
        """
[camera]
driver = "simulated.camera"
[motors.magnet_height]
driver = "zaber.linear"
port = "/dev/null"
microstep_mm = 0.0001
""",
    )
    assert error.key == "motors.magnet_height.limits" and "missing" in error.problem


def test_bad_toml_and_missing_file(tmp_path):
    error = _error(tmp_path, "[camera\n")
    assert "not valid TOML" in error.problem
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_builtin_drivers_are_lazy(monkeypatch, tmp_path):
    monkeypatch.setitem(registry.BUILTIN_DRIVERS, "broken.thing", "no_such_module_xyz:Thing")
    assert "broken.thing" in registry.driver_names()
    load_config(_write(tmp_path, '[camera]\ndriver = "simulated.camera"\n'))  # unused: fine
    error = _error(tmp_path, '[camera]\ndriver = "broken.thing"\n')
    assert error.key == "camera.driver" and "cannot import 'no_such_module_xyz'" in error.problem


def test_entry_point_drivers(monkeypatch, tmp_path):
    fake = importlib.metadata.EntryPoint(
        name="acme.camera", value=f"{__name__}:AcmeCamera", group=registry.ENTRY_POINT_GROUP
    )

    def entry_points(**kwargs):
        assert kwargs == {"group": registry.ENTRY_POINT_GROUP}
        return importlib.metadata.EntryPoints([fake])

    monkeypatch.setattr(registry, "entry_points", entry_points)
    assert "acme.camera" in registry.driver_names()
    assert registry.load_driver("acme.camera") is AcmeCamera
    config = load_config(_write(tmp_path, '[camera]\ndriver = "acme.camera"\nserial = "A1"\n'))
    camera = create_device(config.camera, instance="ignored")
    assert isinstance(camera, AcmeCamera) and camera.serial == "A1" and camera.name == "camera"
    error = _error(tmp_path, '[camera]\ndriver = "acme.camera"\n')
    assert error.key == "camera.serial" and "missing" in error.problem
    with pytest.raises(registry.DriverNotFound):
        registry.load_driver("acme.kamera")


def test_motor_roles():
    assert issubclass(
        type(create_device(default_config().motors["magnet_height"], instance=None)), LinearMotor
    )
    assert all(
        issubclass(registry.load_driver(f"simulated.{n}"), Motor)
        for n in ("magnet_height", "magnet_rotation", "focus")
    )
