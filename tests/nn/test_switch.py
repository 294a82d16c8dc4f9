"""nn.switch.Switch: off inside a block, restored after it, nested blocks included."""

import pytest

from nn.switch import Switch


def test_off_inside_the_block_and_back_after_it_even_on_an_error():
    switch = Switch()
    with switch.off():
        assert not switch.on
        with switch.off():
            assert not switch.on
        assert not switch.on  # the inner block restores what was before it
    assert switch.on
    with pytest.raises(RuntimeError), switch.off():
        raise RuntimeError
    assert switch.on
