from __future__ import annotations

import pytest

from sbt_train.encode import IGNORE_INDEX, ImageTokens, SampleError, encode
from sbt_train.templates import TEMPLATES, Turn, render
from tests.train.tokenizers import build_bpe_tokenizer, build_word_tokenizer

ROUNDS = (Turn("human", "Hi"), Turn("gpt", "Hello"), Turn("human", "Q2"), Turn("gpt", "A2"))


def labelled_tokens(tokenizer, encoded) -> list[tuple[str, bool]]:
    tokens = tokenizer.convert_ids_to_tokens(list(encoded.input_ids))
    return [(t, lab != IGNORE_INDEX) for t, lab in zip(tokens, encoded.labels, strict=True)]


@pytest.fixture(scope="module")
def words():
    return build_word_tokenizer()


class TestWordLevelMasks:
    def test_vicuna_v1_token_by_token(self, words):
        """vicuna_v1: BOS, system, USER/ASSISTANT tags masked; answers and each </s> supervised."""
        enc = encode(render(TEMPLATES["vicuna_v1"], ROUNDS), words, max_length=512)
        tail = labelled_tokens(words, enc)[-10:]
        assert tail == [
            ("USER:", False),
            ("Hi", False),
            ("ASSISTANT:", False),
            ("Hello", True),
            ("</s>", True),
            ("USER:", False),
            ("Q2", False),
            ("ASSISTANT:", False),
            ("A2", True),
            ("</s>", True),
        ]
        assert labelled_tokens(words, enc)[0] == ("<s>", False)
        assert enc.n_supervised == 4

    def test_llama_2_token_by_token(self, words):
        """llama_2: [INST] blocks and the inner <s> masked; answer and </s> supervised."""
        enc = encode(render(TEMPLATES["llama_2"], ROUNDS), words, max_length=512)
        tail = labelled_tokens(words, enc)[-9:]
        assert tail == [
            ("[/INST]", False),
            ("Hello", True),
            ("</s>", True),
            ("<s>", False),
            ("[INST]", False),
            ("Q2", False),
            ("[/INST]", False),
            ("A2", True),
            ("</s>", True),
        ]
        assert enc.n_supervised == 4

    def test_v0_token_by_token(self, words):
        """v0: human turns and speaker tags masked; answers and the final `###` stop supervised."""
        enc = encode(render(TEMPLATES["v0"], ROUNDS), words, max_length=512)
        assert labelled_tokens(words, enc)[-8:] == [
            ("Hello", True),
            ("###", False),
            ("Human:", False),
            ("Q2", False),
            ("###", False),
            ("Assistant:", False),
            ("A2", True),
            ("###", True),
        ]

    def test_plain_with_image_tokens_masked(self, words):
        """plain: the expanded image block is never supervised; caption is."""
        image = ImageTokens("<image>", words.convert_tokens_to_ids("<image>"), 3)
        turns = (Turn("human", "<image>"), Turn("gpt", "a cat"))
        enc = encode(render(TEMPLATES["plain"], turns), words, max_length=64, image=image)
        assert labelled_tokens(words, enc) == [
            ("<s>", False),
            ("<image>", False),
            ("<image>", False),
            ("<image>", False),
            ("a", True),
            ("cat", True),
        ]
        assert enc.n_images == 1

    def test_image_tokens_masked_even_inside_supervised_text(self, words):
        """An `<image>` that somehow sits in an answer is still kept out of the loss."""
        image = ImageTokens("<image>", words.convert_tokens_to_ids("<image>"), 2)
        turns = (Turn("human", "Hi"), Turn("gpt", "<image> Hello"))
        enc = encode(render(TEMPLATES["vicuna_v1"], turns), words, max_length=64, image=image)
        marks = labelled_tokens(words, enc)
        assert ("<image>", True) not in marks
        assert ("Hello", True) in marks

    def test_truncated_answer_is_an_error(self, words):
        """A sample whose answer is cut by max_length raises instead of training with zero loss."""
        segs = render(TEMPLATES["vicuna_v1"], ROUNDS[:2])
        with pytest.raises(SampleError, match="no supervised token"):
            encode(segs, words, max_length=10)

    def test_truncation_inside_image_is_an_error(self, words):
        """Truncation that would cut the image block raises (the model would fail on it)."""
        image = ImageTokens("<image>", words.convert_tokens_to_ids("<image>"), 8)
        turns = (Turn("human", "<image>"), Turn("gpt", "a cat"))
        with pytest.raises(SampleError, match="image block"):
            encode(render(TEMPLATES["plain"], turns), words, max_length=5, image=image)

    def test_placeholder_without_image_support(self, words):
        """`<image>` in a text-only sample is an error (the text-only conversion removes it)."""
        turns = (Turn("human", "<image>\nHi"), Turn("gpt", "Hello"))
        with pytest.raises(SampleError, match="text-only"):
            encode(render(TEMPLATES["vicuna_v1"], turns), words, max_length=64)


class TestBytePieceMasks:
    def test_eos_is_supervised_when_pad_is_eos(self):
        """With pad == eos (a common setup) every answer's eos still carries a label."""
        tok = build_bpe_tokenizer()
        tok.pad_token = tok.eos_token
        enc = encode(render(TEMPLATES["vicuna_v1"], ROUNDS), tok, max_length=512)
        eos_labels = [
            lab for i, lab in zip(enc.input_ids, enc.labels, strict=True) if i == tok.eos_token_id
        ]
        assert eos_labels == [tok.eos_token_id, tok.eos_token_id]

    def test_supervised_tokens_decode_to_answers(self):
        """With byte-level BPE the supervised tokens decode to exactly the answers and stops."""
        tok = build_bpe_tokenizer()
        enc = encode(render(TEMPLATES["vicuna_v1"], ROUNDS), tok, max_length=512)
        kept = [i for i, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != -100]
        assert tok.decode(kept) == " Hello</s> A2</s>"
        assert enc.input_ids[0] == tok.bos_token_id
        assert enc.labels[0] == IGNORE_INDEX


def test_truncated_sample_is_flagged() -> None:
    """A sample longer than max_length keeps its head, is trained on, and says it was cut."""
    tokenizer = build_bpe_tokenizer()
    turns = (Turn("human", "Q: What is it?"), Turn("gpt", "A: " + "yes no " * 40))
    segments = render(TEMPLATES["vicuna_v1"], turns, bos="<s>", eos="</s>")
    whole = encode(segments, tokenizer, max_length=4096)
    cut = encode(segments, tokenizer, max_length=len(whole.input_ids) - 10)
    assert cut.truncated
    assert not whole.truncated
    assert cut.input_ids == whole.input_ids[:-10]
