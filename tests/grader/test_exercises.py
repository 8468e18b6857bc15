"""The course works: each exercise's stub, manualnet's own answer and each classic mistake, graded.

For every exercise in ``manualnet.exercises.EXERCISES``: the stub is graded
"not started" with its pointer (the page, the section, the equations); the
library's own backward (an optimizer's step), dropped into the stub's place,
passes; and each bug-zoo mistake of that layer, dropped in, fails with the
right diagnosis named, while the printed text never shows the library's
lines.  Mistakes the bug zoo has no class for (an optimizer's, the notes'
model's) are written into the file as a learner would write them.

Everything is graded from a temporary copy of exercises/ that holds the
committed stubs (``course``): the real folder is never written, and a stub
you are solving in place is tested as committed (conftest.py checks, at the
end of the session, that no test wrote into exercises/).
"""

import inspect
import re
import subprocess
import sys

import pytest

from manualnet import grader as E
from manualnet.cli import main
from manualnet.testing import bugzoo
from tests.exercise_drop_in import resolve, with_body, with_drop_in
from tests.test_readme import masked

from .course import NAMES, ROOT, STUBS, assert_in_the_tables_words, graded, pristine, put

README = ROOT / "README.md"

LIBRARY = {
    "logistic_regression": "manualnet.models:LogisticRegression", "linear": "manualnet.layers:Linear",
    "relu": "manualnet.activations:ReLU", "sigmoid": "manualnet.activations:Sigmoid",
    "softmax": "manualnet.activations:Softmax", "cross_entropy": "manualnet.losses:CrossEntropyLoss",
    "sequential": "manualnet.layers:Sequential", "sgd": "manualnet.optim:SGD", "adam": "manualnet.optim:Adam",
    "dropout": "manualnet.dropout:Dropout", "batchnorm": "manualnet.batchnorm:BatchNorm1d",
    "conv2d": "manualnet.conv:Conv2d", "max_pool2d": "manualnet.pooling:MaxPool2d",
    "avg_pool2d": "manualnet.pooling:AvgPool2d", "embedding": "manualnet.embedding:Embedding",
    "lstm_cell": "manualnet.recurrent:LSTMCell",
    "layernorm": "manualnet.nn.modules.normalization:LayerNorm", "attention": "manualnet.models.gpt:CausalSelfAttention",
}
# What the library's backward reads that the stub has no reason to define: the stub's batch norm is
# always affine, and its cross-entropy always on the plain path (labels, no weight, no smoothing);
# its embedding has none of the lookup's options; dropout's input dtype, the convolution's and pooling's
# geometry, the LSTM cell's trace and the attention head's q, k, v and P under the library's names
# (tests/exercise_drop_in.py's ADAPTERS).
DROP_IN_ATTRIBUTES = {"batchnorm": {"affine": True}, "cross_entropy": {"weighted_target": None},
                      "dropout": {"adapter": "dropout"},
                      "conv2d": {"adapter": "conv2d"}, "max_pool2d": {"adapter": "pool2d"},
                      "avg_pool2d": {"adapter": "pool2d"},
                      "embedding": {"padding_idx": None, "scale_grad_by_freq": False},
                      "lstm_cell": {"adapter": "lstm_cell"}, "attention": {"adapter": "attention"}}

# (exercise, bug-zoo class, the name its exercise's table gives it)
BUGS = [
    ("linear", "TransposedWeightGradLinear", "transposed"),
    ("linear", "BiasGradMeanLinear", "bias averaged"),
    ("linear", "OverwritingLinear", "not accumulated"),
    ("relu", "ReLUWithoutMask", "mask missing"),
    ("sigmoid", "SigmoidDerivativeAsValue", "value for slope"),
    ("softmax", "SoftmaxDiagonalOnly", "diagonal only"),
    ("cross_entropy", "CrossEntropyMissingOneOverN", "1/N missing"),
    ("dropout", "DropoutWithoutMask", "mask missing"),
    ("dropout", "DropoutScaledByP", "scaled by 1/p"),
    ("batchnorm", "BatchNormWithoutMeanTerm", "mean term dropped"),
    ("conv2d", "UnflippedKernelConv2d", "kernel not flipped"),
    ("conv2d", "UndilatedGradConv2d", "stride ignored"),
    ("max_pool2d", "MaxPoolGradToWholeWindow", "max to whole window"),
    ("avg_pool2d", "AvgPoolGradNotDivided", "not divided"),
    ("embedding", "EmbeddingFancyIndexPlusEquals", "duplicates lost"),
    ("layernorm", "LayerNormWithoutMeanTerm", "mean term missing"),
    ("attention", "AttentionScaleForgottenInBackward", "scale forgotten"),
    ("attention", "AttentionSoftmaxJacobianWrongAxis", "softmax wrong axis"),
]

def drop_library_in(course, name):
    exercise = E.get(name)
    put(course, name, with_drop_in(pristine(name), exercise.class_name, LIBRARY[name],
                                   **DROP_IN_ATTRIBUTES.get(name, {})))


# -- the folder and the pointers ----------------------------------------------------------

def test_the_folder_holds_one_file_per_exercise_in_the_order_of_the_path():
    assert {path.stem for path in STUBS.glob("*.py")} == set(NAMES)
    assert NAMES[:2] == ["logistic_regression", "linear"] and len(NAMES) == len(set(NAMES))


def github_slugs(page_text):
    """The anchors GitHub gives a page's headings (lower case, punctuation dropped, spaces to hyphens)."""
    slugs = []
    for heading in re.findall(r"^#{1,6} (.+)$", page_text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        slugs.append(slug)
    return slugs


@pytest.mark.parametrize("name", NAMES)
def test_each_exercise_points_at_a_section_and_equations_that_exist(name):
    exercise = E.get(name)
    for target in (exercise.page, exercise.shapes):
        page, anchor = target.split("#")
        text = (ROOT / page).read_text(encoding="utf-8")
        assert anchor in github_slugs(text), f"{target}: no such section"
    tags = set(re.findall(r"\\tag\{(\d+)\}", (ROOT / exercise.page.split("#")[0]).read_text(encoding="utf-8")))
    for equation, _ in exercise.equations.values():
        numbers = re.findall(r"\d+", equation)
        assert numbers and set(numbers) <= tags, f"{name}: eq. {equation} is not numbered on {exercise.page}"


@pytest.mark.parametrize("name", NAMES)
def test_each_stub_explains_itself_in_english_and_korean(name):
    exercise = E.get(name)
    docstring = inspect.cleandoc(re.match(r'"""(.*?)"""', pristine(name), flags=re.S).group(1))
    english, korean = docstring.split("한국어")
    for part in (english, korean):
        assert exercise.page.split("#")[0] in part
        assert f"python -m manualnet exercises check {name}" in part
        assert f"git checkout exercises/{name}.py" in part
    assert re.search(r"[가-힣]", korean) and exercise.method in korean


# -- the stub, the library's answer, the classic mistakes -------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_the_stub_is_not_started_and_says_what_to_read(course, name):
    result, text = graded(course, name)
    exercise = E.get(name)
    assert result.status == E.NOT_STARTED, text
    message = " ".join(text.split())
    assert exercise.page in message and f"python -m manualnet exercises check {name}" in message
    for equation, _ in exercise.equations.values():
        assert re.findall(r"\d+", equation)[0] in message


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_the_librarys_own_implementation_dropped_in_passes(course, name):
    drop_library_in(course, name)
    result, text = graded(course, name)
    assert result.status == E.PASSING, text
    assert result.cases == 1 + E.DRAWN_CASES
    following = E.next_after(E.get(name))
    assert (f"next: exercise {E.position(following)}, {following.name}" if following else "the last exercise") in text


def library_lines(name):
    """The lines of the library's answer, long enough to give a solution away."""
    source = resolve(LIBRARY[name])
    method = getattr(source, "backward", None) or source._update
    code = [line.split("#")[0].strip() for line in inspect.getsource(method).splitlines()[2:]]
    return [line for line in code if len(line) > 20]


@pytest.mark.parametrize("name, bug, diagnosis", BUGS, ids=[bug for _, bug, _ in BUGS])
@pytest.mark.slow
def test_each_classic_mistake_dropped_in_fails_with_its_diagnosis_named(course, name, bug, diagnosis):
    exercise = E.get(name)
    put(course, name, with_drop_in(pristine(name), exercise.class_name, f"manualnet.testing.bugzoo:{bug}",
                                   **DROP_IN_ATTRIBUTES.get(name, {})))
    result, text = graded(course, name)
    assert result.status == E.FAILING, text
    assert result.diagnosed() == [diagnosis], text
    flat = " ".join(text.split())
    assert f"hint ({diagnosis}): " in flat and f"Read {exercise.mistakes.page}." in flat
    assert_in_the_tables_words(name, diagnosis, flat, text)
    for line in library_lines(name):
        assert line not in text, f"the grade shows the library's line {line!r}"


# Mistakes in options an exercise's stub does not have (its cross-entropy takes no class weights), or
# outside the method the learner writes: MaxPoolGradToAllTies picks the routes in forward (written), and
# the graded cases have no ties, where finite differences could not judge it; LayerNormOverWrongAxis and
# AttentionMaskAfterSoftmax are mistakes of forward (written); AttentionFutureLeakingInBackward reads
# scores its own forward keeps, which the stub's forward does not (the learner's version, P recomputed in
# backward without the mask, is in tests/grader/corpus/attention.py).
NOT_IN_THE_EXERCISE = {"CrossEntropyWeightedGradOverN", "MaxPoolGradToAllTies", "LayerNormOverWrongAxis",
                       "AttentionMaskAfterSoftmax", "AttentionFutureLeakingInBackward"}


def test_every_bug_zoo_mistake_of_an_exercised_layer_is_tried():
    exercised = {resolve(source): name for name, source in LIBRARY.items()}
    tried = {bug for _, bug, _ in BUGS} | NOT_IN_THE_EXERCISE
    for bug in bugzoo.BUGS:
        layer = next((klass for klass in bug.__mro__[1:] if klass in exercised), None)
        if layer is not None:
            assert bug.__name__ in tried, f"{bug.__name__} breaks {layer.__name__}: add it to BUGS"


# -- what a failure says: evidence first, then one hint ---------------------------------------------
# (tests/grader/test_corpus.py grades a corpus of learners' backwards; these check the words)

def test_a_named_mistake_says_what_the_code_did_the_line_to_reread_and_the_evidence(course):
    """dc_prev without the forget gate: the issue's own example."""
    put(course, "lstm_cell", with_body(pristine("lstm_cell"), LSTM_RIGHT.replace("dc * f)", "dc)")))
    result, text = graded(course, "lstm_cell")
    flat = " ".join(text.split())
    assert result.diagnosed() == ["forget gate left out"], text
    assert ("diagnosis: hx[1].grad: forget gate left out — your dc_prev leaves out the forget gate; re-read "
            "dc_prev = dc ⊙ f, eq. (13); evidence: mine equals that at all 6 entries, and differs from the right "
            "value by up to ") in flat, text
    assert flat.count("hint") == 1 and "hint (forget gate left out): c reaches c' = f ⊙ c + i ⊙ g" in flat


def test_a_mistake_no_table_names_gets_one_hint_at_the_first_line_that_can_explain_it(course):
    """df = dc ⊙ tanh(c') for dc ⊙ c: every row but dc_prev fails, and do (eq. (6)) is the first line reaching
    exactly those."""
    put(course, "lstm_cell", with_body(pristine("lstm_cell"), LSTM_RIGHT.replace("dc * self.c,", "dc * tanh_c,")))
    result, text = graded(course, "lstm_cell")
    assert result.status == E.FAILING and result.fixed_case and result.diagnosed() == [], text
    hints = [line for line in text.split("\n\n")[-1].split("\nhint") if line.strip()]
    assert len(hints) == 1, text
    flat = " ".join(text.split())
    assert ("hint: input.grad, hx[0].grad, weight_ih.grad, weight_hh.grad, bias_ih.grad and bias_hh.grad fail "
            "while hx[1].grad passes. The first line of LSTMCell.backward that can explain exactly this is "
            "do = dh' ⊙ tanh(c'), eq. (6) (so could every line after it up to eq. (11)): read "
            "derivations/lstm.md#backward from there.") in flat, text


LSTM_RIGHT = """\
        dh_next, dc_next = grad_output
        i, f, g, o, tanh_c = self.i, self.f, self.g, self.o, self.tanh_c
        dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
        di, df, dg, do = dc * g, dc * self.c, dc * i, dh_next * tanh_c
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=1)
        self.weight_ih.grad += da.T @ self.x
        self.weight_hh.grad += da.T @ self.h
        if self.bias:
            self.bias_ih.grad += da.sum(axis=0)
            self.bias_hh.grad += da.sum(axis=0)
        return da @ self.weight_ih.data, (da @ self.weight_hh.data, dc * f)
"""


@pytest.mark.slow
def test_a_case_only_hypothesis_draws_is_found_and_shrunk(course):
    """Softmax along the last axis only: the fixed case (dim=-1) passes, a drawn dim=0 fails."""
    put(course, "softmax", with_body(pristine("softmax"), """\
        y = self.y
        return y * (grad_output - (grad_output * y).sum(axis=-1, keepdims=True))
"""))
    result, text = graded(course, "softmax")
    assert result.status == E.FAILING and not result.fixed_case, text
    assert "Softmax(dim=0)" in result.case and "x (3, 2)" in result.case      # the smallest such case
    assert result.diagnosed() == ["sum along another axis"], text
    assert "your sum runs along axis 1" in " ".join(text.split())


def test_a_module_without_parameters_gets_no_note_about_accumulating(course):
    put(course, "relu", with_body(pristine("relu"), "        return grad_output\n"))
    result, text = graded(course, "relu", drawn=0)
    assert result.diagnosed() == ["mask missing"] and "zero_grad" not in text, text


def test_a_gradient_of_the_wrong_shape_shows_both_shapes(course):
    put(course, "relu", with_body(pristine("relu"), "        return (grad_output * (self.y > 0)).T\n"))
    result, text = graded(course, "relu", drawn=0)
    row = next(line for line in text.splitlines() if line.startswith("input.grad"))
    assert "shape (3, 4)" in row and "shape (4, 3)" in row and "inf" not in row and "nan" not in row, text
    assert result.diagnosed() == ["transposed"], text


def test_what_the_learners_code_prints_is_shown_apart(course):
    put(course, "relu", with_body(pristine("relu"), """\
        print("passed: 21 cases")
        return grad_output
"""))
    result, text = graded(course, "relu", drawn=0)
    assert result.status == E.FAILING and "your code printed:" in text, text
    assert "\n  | passed: 21 cases" in text


def test_an_error_in_the_learners_code_shows_its_line_and_no_hint(course):
    put(course, "linear", with_body(pristine("linear"), """\
        self.weight.grad += grad_output.T @ self.x
        self.bias.grad += grad_output.sum(axis=0)
        return grad_output @ self.weight.data
"""))
    result, text = graded(course, "linear")
    assert result.status == E.FAILING and "bias=False" in result.case, text    # bias is None there
    assert re.search(r'File ".*linear\.py", line \d+, in backward\n    self\.bias\.grad \+= ', text), text
    assert "AttributeError: 'NoneType' object has no attribute 'grad'" in text
    assert "hint" not in text and "dimension" not in text


def test_a_file_that_does_not_run_or_lacks_its_class_fails_with_the_reason(course):
    put(course, "relu", pristine("relu").replace("def backward(self", "def backward(self,,"))
    result, text = graded(course, "relu")
    assert result.status == E.FAILING and "does not run" in text and "SyntaxError" in text
    assert re.search(r'File ".*relu\.py", line \d+\n    def backward\(self,,', text), text
    assert "hint" not in text and "dimension" not in text
    put(course, "relu", pristine("relu").replace("class ReLU(", "class MyReLU("))
    result, text = graded(course, "relu")
    assert result.status == E.FAILING and "defines no class ReLU" in text


# -- the listing and the command line ---------------------------------------------------------

@pytest.mark.slow
def test_the_listing_shows_each_status_and_the_next_exercise(course):
    drop_library_in(course, "linear")
    put(course, "relu", with_drop_in(pristine("relu"), "ReLU", "manualnet.testing.bugzoo:ReLUWithoutMask"))
    text, grades = E.listing(course)
    status = {g.exercise.name: g.status for g in grades}
    assert status["linear"] == E.PASSING and status["relu"] == E.FAILING
    assert {status[name] for name in NAMES if name not in ("linear", "relu")} == {E.NOT_STARTED}
    assert re.search(r"^2 +linear +passing +Linear\.backward +derivations/linear\.md$", text, flags=re.M), text
    assert re.search(r"^3 +relu +failing ", text, flags=re.M) and re.search(r"^1 +logistic_regression +not started ",
                                                                             text, flags=re.M)
    assert "next: logistic_regression — python -m manualnet exercises check logistic_regression" in text
    drop_library_in(course, "logistic_regression")
    assert "next: relu — python -m manualnet exercises check relu" in E.listing(course)[0]


@pytest.mark.slow
def test_the_last_exercise_passing_says_so(course):
    drop_library_in(course, E.EXERCISES[-1].name)
    assert "that was the last exercise" in graded(course, E.EXERCISES[-1].name)[1]


@pytest.mark.slow
def test_the_command_line_exits_0_only_when_the_exercise_passes(course, capsys):
    assert main(["exercises", "check", "linear", "--dir", str(course)]) == 1
    assert "not started: Linear.backward raises NotImplementedError" in capsys.readouterr().out
    drop_library_in(course, "linear")
    assert main(["exercises", "check", "linear", "--dir", str(course)]) == 0
    assert "passed: 21 cases" in capsys.readouterr().out
    assert main(["exercises", "--dir", str(course)]) == 0
    assert "next: logistic_regression" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["exercises", "check", "lineer"], "argument NAME: no exercise 'lineer'; did you mean 'linear'? the exercises are "),
    (["exercises", "check", "batchnrom"], "did you mean 'batchnorm'?"),
    (["exercises", "check"], "expected 'exercises' alone or 'exercises check NAME'"),
    (["exercises", "grade", "linear"], "argument check: invalid choice: 'grade'"),
])
def test_a_wrong_command_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_a_folder_without_exercises_is_an_error(tmp_path, capsys):
    assert main(["exercises", "--dir", str(tmp_path)]) == 1
    assert "holds none of the exercise files" in capsys.readouterr().err


def test_grading_writes_nothing_into_the_folder(course):
    before = {path: path.read_bytes() for path in course.rglob("*")}
    E.listing(course)
    assert {path: path.read_bytes() for path in course.rglob("*")} == before


# -- the README: the path in order, and the session it shows ----------------------------------

def readme_section(title):
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_lists_the_path_in_order():
    rows = re.findall(r"^\| (\d+) \| \[`(\w+)`\]\((\S+)\) \| `(\S+)` \| \[\S+\]\((\S+)\), eq\. ([^|]+) \|$",
                      readme_section("Start here"), flags=re.M)
    assert rows == [(str(number), e.name, e.file, e.title, e.page, e.read)
                    for number, e in enumerate(E.EXERCISES, start=1)]


def apply_diff(path, diff):
    """Apply a diff block of the README (lines ' ', '-', '+'; no headers) to the file at ``path``."""
    lines = diff.splitlines()
    old = "".join(line[1:] + "\n" for line in lines if line[:1] in (" ", "-"))
    new = "".join(line[1:] + "\n" for line in lines if line[:1] in (" ", "+"))
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the README's diff does not apply to {path.name}:\n{old}"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.slow
def test_the_readme_session_replays_as_shown(course):
    """The walk-through of the README, command by command, in a folder holding a copy of the stubs."""
    blocks = re.findall(r"^```(\w+)\n(.*?)^```$", readme_section("Exercises: write the backward yourself"),
                        flags=re.S | re.M)
    assert [kind for kind, _ in blocks] == ["text", "diff", "text", "diff", "text"]
    for kind, body in blocks:
        if kind == "diff":
            apply_diff(course / "linear.py", body)
            continue
        command, *shown = body.splitlines()
        assert command.startswith("$ python -m manualnet exercises")
        ran = subprocess.run([sys.executable, "-m", "manualnet", *command.split()[4:]], cwd=course.parent,
                             capture_output=True, text=True, timeout=300)
        assert ran.stderr == ""
        assert masked(ran.stdout) == masked("\n".join(shown)), f"{command} printed:\n{ran.stdout}"
    assert "bias averaged" in blocks[2][1] and "derivations/linear.md#backward" in blocks[2][1]
    assert "eq. (4)" in " ".join(blocks[2][1].split()) and f"next: exercise 3/{len(E.EXERCISES)}, relu" in blocks[4][1]


def note_map(text):
    """{study note: the exercises its row names} from a README's table of the notes ("—": beyond the notes)."""
    rows = re.findall(r"^\| (00\d|—) \| [^|]+ \| ([^|]+) \|", text, flags=re.M)
    return {note: re.findall(r"`(\w+)`", exercises) for note, exercises in rows}


def test_the_korean_readme_has_the_same_path_commands_and_map():
    korean = (ROOT / "README.ko.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| \[`(\w+)`\]\((\S+)\) \| `(\S+)` \| \[\S+\]\((\S+)\), 식 ([^|]+) \|$", korean,
                      flags=re.M)
    assert rows == [(str(number), e.name, e.file, e.title, e.page, e.read)
                    for number, e in enumerate(E.EXERCISES, start=1)]
    for command in ("make demo", "make test", "make docs", "python -m manualnet exercises ",
                    "python -m manualnet exercises check linear", "git checkout exercises/"):
        assert command in korean
    assert "derivations/backprop.md" in korean and "영어로만" in korean          # the pages are English for now
    english = note_map(README.read_text(encoding="utf-8"))
    assert sorted(english) == ["000", "001", "002", "003", "004", "—"] and note_map(korean) == english
    assert set(NAMES) <= {name for names in english.values() for name in names}
