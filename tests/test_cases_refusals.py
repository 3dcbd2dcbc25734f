"""Refused case actions explain themselves in the reader's language, never as a code."""

import pytest
from flask_babel import force_locale

from portal.cases.lifecycle import CaseError


@pytest.mark.parametrize("code", ["closed", "no_offer", "reason_required", "not_accepted",
                                  "bad_state", "bad_amount", "not_closed", "bad_score"])
def test_every_refusal_code_has_a_sentence(app_ctx, code):
    with force_locale("en"):
        english = CaseError(code).explanation()
    with force_locale("zh_Hans"):
        chinese = CaseError(code).explanation()
    assert english != code and "_" not in english and english.endswith(".")
    assert chinese != english  # translated


def test_unknown_code_gets_a_generic_sentence(app_ctx):
    with force_locale("en"):
        assert CaseError("something_new").explanation() == "The action was refused."
