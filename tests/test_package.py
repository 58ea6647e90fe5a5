import inspect
import subprocess
import sys

import crossview

PUBLIC_API = {
    "__version__", "train", "evaluate", "embed", "build_index", "Localizer", "load_layout",
    "load_run", "create_method", "list_methods", "register_method", "evaluate_conditions",
}
"""The small public API (STYLE.md §12): removing a name is a breaking change."""


def test_public_names_exist_and_resolve():
    missing = PUBLIC_API - set(dir(crossview))
    assert not missing, f"public names disappeared: {missing}"
    for name in PUBLIC_API - {"__version__"}:
        obj = getattr(crossview, name)
        assert callable(obj) and obj.__doc__, name
    assert callable(crossview.Localizer.from_index) and callable(crossview.Localizer.locate)
    assert set(crossview.__all__) == PUBLIC_API


def test_public_functions_take_what_the_cli_passes():
    params = {name: set(inspect.signature(getattr(crossview, name)).parameters)
              for name in ("train", "evaluate", "embed", "build_index")}
    assert {"method_name", "data", "out", "preset", "overrides", "data_options"} <= params["train"]
    assert {"run_or_checkpoint", "data", "split", "fov_deg", "data_options"} <= params["evaluate"]
    assert {"run", "tiles", "out", "which"} <= params["build_index"]


def test_importing_crossview_stays_light():
    code = "import sys, crossview; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_unknown_attribute_is_an_attribute_error():
    try:
        crossview.nope  # noqa: B018
    except AttributeError as err:
        assert "nope" in str(err)
    else:
        raise AssertionError("crossview.nope resolved")


def test_cli_version_and_help():
    out = subprocess.run([sys.executable, "-m", "crossview", "version"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == crossview.__version__
