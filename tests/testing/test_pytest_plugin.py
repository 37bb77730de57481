"""pygochan's pytest plugin (entry point pytest11 "pygochan"), run in a
pytest of its own (pytester, in a subprocess so that the threads its tests
leave behind stay there)."""
import pytest

from conftest import FREE_THREADED

pytest_plugins = ["pytester"]

# What the inner tests share: threads that park in pygochan.
HELPERS = """
import threading, time
import pygochan as gc

def park_on(ch, name):
    def run():
        try:
            ch.recv()
        except gc.ChannelClosed:
            pass
    t = threading.Thread(target=run, name=name, daemon=True)
    t.start()
    while t.ident not in {w.ident for w in gc.blocked()}:
        time.sleep(0.001)
    return t
"""

LEAKY = HELPERS + """
HELD = gc.Channel()

def test_leaks():
    park_on(gc.Channel(), "lost-one")

def test_parks_on_a_global():
    park_on(HELD, "parked-one")

def test_clean():
    ch = gc.Channel()
    t = park_on(ch, "finishes")
    ch.close()

def test_finishes_in_time():
    ch = gc.Channel()
    park_on(ch, "late")
    threading.Timer(0.1, ch.close).start()
"""


def run(pytester, source, *args):
    pytester.makepyfile(test_inner=source)
    pytester.makeini("[pytest]\npygochan_leak_timeout = 0.3\n")
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_the_plugin_does_nothing_unless_asked(pytester):
    result = run(pytester, LEAKY)
    result.assert_outcomes(passed=4)


@pytest.mark.skipif(FREE_THREADED, reason="without a GIL no wait can be judged leaked")
def test_the_option_fails_tests_that_leave_threads_parked(pytester):
    result = run(pytester, LEAKY, "--pygochan-leaks", "-rE")
    result.assert_outcomes(passed=4, errors=2)
    text = result.stdout.str()
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_leaks*",
        "*test_inner.py::test_leaks left threads parked in pygochan*",
        "*1 thread(s) parked in pygochan, 1 of them leaked*",
        "thread 'lost-one' (ident *): recv on <pygochan.Channel *",
        "*leaked: nothing outside the parked threads can wake it*",
        "*blocked at:*",
        "*in run*",
        "*ch.recv()*",
        "*started at:*",
        "*in test_leaks*",
        "*park_on(gc.Channel(), \"lost-one\")*",
        "*in park_on*",
        "*t.start()*",
    ])
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_parks_on_a_global*",
        "*1 thread(s) parked in pygochan, 0 of them leaked*",
        "thread 'parked-one' *",
        "*parked: something alive could still wake it*",
    ])
    # that test's own report names only its own thread (the short summary
    # after it repeats every error's message, as pytest 9 does in full)
    own_report = text.split("ERROR at teardown of test_parks_on_a_global")[1]
    own_report = own_report.split("short test summary info")[0]
    assert "lost-one" not in own_report
    assert "'finishes'" not in text and "'late'" not in text


def test_the_marker_checks_only_the_tests_it_marks(pytester):
    source = HELPERS + """
import pytest

@pytest.mark.pygochan_no_leaks
def test_marked():
    park_on(gc.Channel(), "marked-leak")

def test_unmarked():
    park_on(gc.Channel(), "unmarked-leak")

@pytest.mark.pygochan_no_leaks(timeout=5.0)
def test_marked_clean():
    ch = gc.Channel()
    park_on(ch, "clean")
    threading.Timer(0.1, ch.close).start()
"""
    result = run(pytester, source, "--strict-markers")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_marked *", "*'marked-leak'*"])
    assert "unmarked-leak" not in result.stdout.str()


def test_fixture_teardown_runs_before_the_check(pytester):
    source = HELPERS + """
import pytest

@pytest.fixture
def parked_worker():
    ch = gc.Channel()
    park_on(ch, "fixture-worker")
    yield
    ch.close()

def test_uses_it(parked_worker):
    pass
"""
    result = run(pytester, source, "--pygochan-leaks")
    result.assert_outcomes(passed=1)


def test_threads_started_before_the_test_are_not_its_fault(pytester):
    source = HELPERS + """
import pytest

BEFORE = park_on(gc.Channel(), "module-level")

@pytest.fixture(scope="session")
def service():
    park_on(gc.Channel(), "session-service")

@pytest.fixture(scope="module")
def module_service():
    park_on(gc.Channel(), "module-service")

@pytest.fixture
def function_service():
    park_on(gc.Channel(), "function-service")

def test_one(service, module_service):
    pass

def test_two(service, module_service):
    pass

def test_three(function_service):
    pass
"""
    result = run(pytester, source, "--pygochan-leaks")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_three*", "thread 'function-service'*"])
    text = result.stdout.str()
    assert "'session-service'" not in text and "'module-service'" not in text


def test_a_bad_marker_timeout_is_a_usage_error(pytester):
    source = """
import pytest

@pytest.mark.pygochan_no_leaks(timeout="soon")
def test_x():
    pass
"""
    result = run(pytester, source)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*pygochan_no_leaks: timeout must be a number of seconds, not 'soon'*"])


def test_the_marker_is_registered(pytester):
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.pygochan_no_leaks(timeout=None):*"])


def test_p_no_pygochan_turns_the_plugin_off(pytester):
    source = HELPERS + """
import pytest

def test_leaks():
    park_on(gc.Channel(), "lost")

def test_fixture_is_gone(request):
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue("gc_bubble")
"""
    result = run(pytester, source, "-p", "no:pygochan")
    result.assert_outcomes(passed=2)
    result = run(pytester, source, "-p", "no:pygochan", "--pygochan-leaks")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unrecognized arguments: --pygochan-leaks*"])
    marked = """
import pytest

@pytest.mark.pygochan_no_leaks
def test_x():
    pass
"""
    result = run(pytester, marked, "-p", "no:pygochan", "--strict-markers")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*'pygochan_no_leaks' not found in `markers` configuration option*"])


def test_inactive_the_plugin_changes_nothing(pytester):
    source = """
import threading

ORIGINAL_START = threading.Thread.start

def test_untouched():
    assert threading.Thread.start is ORIGINAL_START
    assert threading.active_count() == 1
"""
    result = run(pytester, source)
    result.assert_outcomes(passed=1)
