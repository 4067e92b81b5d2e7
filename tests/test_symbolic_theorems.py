"""The theorem catalogue holds, false statements fail loudly, and the committed document is current."""
from __future__ import annotations

import re

import pytest
import sympy as sp

from adamw_oracle.errors import InvalidArgumentError
from adamw_oracle.symbolic import THEOREMS, Claim, Derivation, DerivationStep, Theorem, prove_all
from adamw_oracle.symbolic.render import render_latex, render_markdown, stale_documents, write_documents
from adamw_oracle.symbolic.symbols import HYPER, STATE
from adamw_oracle.symbolic.theorems_seeds import SEED000, closed_form_zero_gradient_l2

ETA, LAM, THETA, G = HYPER.lr, HYPER.weight_decay, STATE.p, STATE.g


@pytest.fixture(scope="module")
def results():
    return prove_all()


def test_every_issue_theorem_is_present_and_held(results) -> None:
    numbers = [int(re.match(r"T(\d+) ", r.name).group(1)) for r in results]
    assert numbers == list(range(1, 13))
    failed = [r.line() for r in results if not r.held]
    assert not failed, failed
    for r in results:
        assert r.statement and r.assumptions and r.steps and r.outcomes
        assert all(o.held for o in r.outcomes)


def test_identity_theorems_report_a_zero_residual(results) -> None:
    for r in results:
        if any(o.claim.kind == "zero" for o in r.outcomes):
            assert r.residual == "0", r.name


def _false_theorem() -> Theorem:
    def derive() -> Derivation:
        l2 = THETA - ETA * (G + LAM * THETA)
        wrong = (1 - ETA * LAM / 2) * THETA - ETA * G
        return Derivation((DerivationStep("L2 step", sp.Symbol("theta_L2"), l2),),
                          (Claim("zero", l2 - wrong, "L2 equals decay by eta*lambda/2"),))

    return Theorem("F1 deliberately_false", "SGD L2 is weight decay with factor 1 - eta*lambda/2", ("eta > 0",), derive)


def test_a_false_theorem_is_reported_failed_with_its_residual() -> None:
    result = _false_theorem().prove()
    assert not result.held
    # by hand: theta - eta*g - eta*lambda*theta - (theta - eta*lambda*theta/2 - eta*g) = -eta*lambda*theta/2
    assert sp.simplify(result.outcomes[0].residual + ETA * LAM * THETA / 2) == 0
    assert result.residual == sp.sstr(result.outcomes[0].residual)
    assert "FAILED" in result.line() and result.residual in result.line()
    [failed] = prove_all([_false_theorem()])
    assert not failed.held and failed.residual != "0"


def test_seed001_premise_as_stated_fails() -> None:
    # The exercise claims the L2 decay is SMALLER than AdamW's at v_hat = 0.09: ratio < 1 must fail.
    ratio = 1 / (sp.sqrt(sp.Rational(9, 100)) + sp.Rational(1, 10**8))
    claim = Claim("negative", ratio - 1, "Adam+L2 decay is smaller than AdamW's at v_hat = 0.09")
    outcome = claim.check()
    assert not outcome.held and outcome.residual == sp.Rational(69999999, 30000001)


def test_seed000_number_at_t1000_is_not_the_printed_one() -> None:
    at_1000 = closed_form_zero_gradient_l2(sp.Rational(1, 10**4), 1000, ETA, LAM).evalf(50, subs=SEED000)
    assert not Claim("rounds_to", at_1000, "t = 1000 reading", decimal="0.924127").check().held
    assert Claim("rounds_to", at_1000, "t = 1000 reading", decimal="0.924149").check().held


@pytest.mark.parametrize(
    "claim",
    [
        Claim("positive", -ETA, "a negative quantity claimed positive"),
        Claim("positive", G, "sign undecided for a real g: unproved is not held"),
        Claim("nonzero", ETA - ETA, "identically zero claimed non-zero"),
        Claim("nonzero", G * THETA, "non-zero claimed without a witness that shows it"),
        Claim("zero", sp.sqrt(THETA**2) - THETA, "sqrt(theta^2) = theta is false for negative theta"),
    ],
    ids=lambda c: c.text,
)
def test_unproved_claims_do_not_hold(claim: Claim) -> None:
    assert not claim.check().held


def test_a_theorem_without_claims_is_not_held() -> None:
    result = Theorem("F2 empty", "nothing", (), lambda: Derivation((), ())).prove()
    assert not result.held and "no claims" in result.residual


def test_claim_arguments_are_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="kind"):
        Claim("approximately", ETA, "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="decimal"):
        Claim("rounds_to", ETA, "x")
    with pytest.raises(InvalidArgumentError, match="expression"):
        Claim("zero", "eta - eta", "strings are never sympified")  # type: ignore[arg-type]


def test_theorem_names_are_unique() -> None:
    names = [t.name for t in THEOREMS]
    assert len(names) == len(set(names))


def test_committed_documents_are_current(results) -> None:
    stale = stale_documents(results)
    assert not stale, f"regenerate with: adamw-oracle prove --format markdown / --format latex ({stale})"


def test_documents_name_every_theorem_and_latex_is_balanced(results) -> None:
    markdown, latex = render_markdown(results), render_latex(results)
    for r in results:
        assert f"## {r.name}" in markdown
    assert latex.count(r"\begin{") == latex.count(r"\end{")
    assert latex.count(r"\[") == latex.count(r"\]")
    body = re.sub(r"\\[{}]", "", latex)
    assert body.count("{") == body.count("}")


def test_write_documents_then_check_and_detect_an_edit(tmp_path, results) -> None:
    paths = write_documents(results, tmp_path)
    assert sorted(p.name for p in paths) == ["proofs.md", "proofs.tex"]
    assert stale_documents(results, tmp_path) == []
    assert not list(tmp_path.glob(".*.tmp"))
    paths[0].write_text(paths[0].read_text() + "edited\n")
    assert stale_documents(results, tmp_path) == [paths[0]]


def test_failed_theorem_appears_as_failed_in_the_document() -> None:
    [failed] = prove_all([_false_theorem()])
    assert "[FAILED]" in render_markdown([failed])
    assert "Result: FAILED" in render_latex([failed])


def test_readme_symbolic_section_example_runs() -> None:
    import doctest
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("<!-- section: symbolic -->", 1)[1].split("<!-- section:", 1)[0]
    test = doctest.DocTestParser().get_doctest(section, {}, "README symbolic", "README.md", 0)
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert test.examples and runner.failures == 0


def test_the_eps_floor_theorem_would_catch_a_floor_over_the_raw_second_moment() -> None:
    """T12's first claim compares the floor's update with its max resolved at sqrt(v~) against the
    after-root form at eps = 0; a floor over sqrt(v) (no bias correction of v) makes it fail."""
    import sympy as sp

    from adamw_oracle.contract.conventions import Conventions, EpsPlacement
    from adamw_oracle.symbolic import Claim, adam_step
    from adamw_oracle.symbolic.symbols import HYPER

    floor = adam_step(Conventions(eps_placement=EpsPlacement.FLOOR))
    after = adam_step(Conventions())
    wrong = floor["update"].xreplace({floor["denom"]: sp.sqrt(floor["v"])}) - after["update"].xreplace({HYPER.eps: 0})
    assert not Claim("zero", wrong, "floor over raw v").check().held
