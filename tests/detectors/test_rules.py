import pytest

from detectors import DetectionRule, DetectorError, Severity


@pytest.mark.parametrize(
    "field",
    [
        {"method": "magic"},
        {"threshold": 0.0},
        {"threshold": float("nan")},
        {"window_size": 1},
        {"min_samples": 0},
        {"direction": "sideways"},
        {"contamination": 0.9},
        {"penalty": -1.0},
        {"severity_thresholds": {"LOW": 5.0, "HIGH": 3.0}},
        {"severity_thresholds": {"URGENT": 5.0}},
    ],
)
def test_invalid_rule_field_raises_detector_error_naming_it(field):
    with pytest.raises(DetectorError, match=next(iter(field))):
        DetectionRule("r", **field)


def test_default_rule_is_the_level_step_tail_detector():
    rule = DetectionRule("r")
    assert (rule.method, rule.threshold, rule.window_size, rule.direction) == (
        "level_step_tail",
        3.0,
        60,
        "both",
    )


def test_severity_grows_with_abs_z():
    rule = DetectionRule("r")
    assert [rule.severity_for(z) for z in (3.1, -4.5, 7.0, 12.0)] == [
        Severity.LOW,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.CRITICAL,
    ]


def test_rules_are_hashable_and_compare_by_value():
    assert DetectionRule("r") == DetectionRule("r")
    assert len({DetectionRule("r"), DetectionRule("r")}) == 1
