import math

import numpy as np
import pytest

from detectors import InvalidInputError
from detectors.grid import grid


def test_grid_lays_points_every_step_from_start_to_end():
    np.testing.assert_array_equal(grid(0.0, 180.0, 60.0), [0.0, 60.0, 120.0, 180.0])


def test_grid_of_a_range_that_ends_before_it_starts_is_its_start():
    np.testing.assert_array_equal(grid(120.0, 0.0, 60.0), [120.0])


@pytest.mark.parametrize("step", [0.0, -60.0, math.nan, math.inf, -math.inf])
def test_grid_with_a_step_that_is_not_a_positive_finite_number_is_an_invalid_input_error(step):
    with pytest.raises(InvalidInputError, match="grid step must be a positive finite number of seconds"):
        grid(0.0, 600.0, step)


@pytest.mark.parametrize(("start", "end"), [(math.nan, 600.0), (0.0, math.inf), (-math.inf, 0.0)])
def test_grid_with_a_bound_that_is_not_finite_is_an_invalid_input_error(start, end):
    with pytest.raises(InvalidInputError, match="grid start and end must be finite"):
        grid(start, end, 60.0)
