"""ImageNet-C corruptions: every one works on today's stack, deterministically, and is cached."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("imagecorruptions")
np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

from sbt_bench.core.errors import SbtError  # noqa: E402
from sbt_bench.media.corruptions import (  # noqa: E402 - after the vision-extra skips
    CORRUPTIONS,
    SEVERITIES,
    corrupt_image,
    corrupted_file,
    resolve_corruptions,
)
from sbt_bench.media.images import load_image  # noqa: E402


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A real photo downscaled to 160x106 (non-square, so a transposed output would show)."""
    with Image.open(data_dir / "sample_images" / "chelsea.jpg") as image:
        small = image.convert("RGB").resize((160, 106))
    path = tmp_path_factory.mktemp("photo") / "chelsea.jpg"
    small.save(path, quality=95)
    return path


class TestResolve:
    def test_all_is_the_19_imagenet_c_corruptions(self) -> None:
        """'all' expands to the library's 19 corruptions (15 common + 4 validation), in order."""
        from imagecorruptions import get_corruption_names

        assert resolve_corruptions(["all"]) == CORRUPTIONS
        assert list(CORRUPTIONS) == get_corruption_names("all")
        assert len(CORRUPTIONS) == 19

    def test_repeats_are_dropped(self) -> None:
        """A name given twice (or also covered by 'all') appears once, at its first position."""
        assert resolve_corruptions(["fog", "all"])[:2] == ("fog", "gaussian_noise")
        assert len(resolve_corruptions(["fog", "all"])) == 19

    def test_unknown_name_suggests_the_close_one(self) -> None:
        """A misspelt corruption is a one-line error with a did-you-mean."""
        with pytest.raises(SbtError, match="Did you mean 'gaussian_blur'"):
            resolve_corruptions(["gausian_blur"])


class TestEveryCorruption:
    @pytest.mark.parametrize("corruption", CORRUPTIONS)
    def test_every_severity_keeps_size_and_changes_pixels(
        self, corruption: str, photo: Path
    ) -> None:
        """Each corruption at severities 1..5 returns an RGB image of the same size that differs."""
        with Image.open(photo) as image:
            clean = image.convert("RGB")
        pixels = np.asarray(clean)
        for severity in SEVERITIES:
            out = corrupt_image(clean, corruption, severity, photo.name)
            assert out.mode == "RGB"
            assert out.size == clean.size, (corruption, severity)
            assert not np.array_equal(np.asarray(out), pixels), (corruption, severity)


class TestDeterminismAndCache:
    @pytest.mark.parametrize("corruption", ["gaussian_noise", "glass_blur", "impulse_noise"])
    def test_same_bytes_twice_without_disturbing_global_rngs(
        self, corruption: str, photo: Path, tmp_path: Path
    ) -> None:
        """Two fresh caches get identical files; the caller's numpy and random streams go on."""
        np.random.seed(123)
        random.seed(123)
        expected = (np.random.random(), random.random())
        np.random.seed(123)
        random.seed(123)
        first = corrupted_file(photo, corruption, 3, tmp_path / "a")
        assert (np.random.random(), random.random()) == expected
        second = corrupted_file(photo, corruption, 3, tmp_path / "b")
        assert first.read_bytes() == second.read_bytes()

    def test_threads_corrupting_at_once_get_the_single_threaded_bytes(
        self, photo: Path, tmp_path: Path
    ) -> None:
        """Eight threads (the API backend's pool) making noise variants agree with one thread."""
        from concurrent.futures import ThreadPoolExecutor

        names = ["gaussian_noise", "shot_noise", "speckle_noise", "spatter"] * 2
        expected = [
            corrupted_file(photo, n, 2, tmp_path / "serial" / str(i)).read_bytes()
            for i, n in enumerate(names)
        ]
        with ThreadPoolExecutor(8) as pool:
            paths = pool.map(
                lambda job: corrupted_file(photo, job[1], 2, tmp_path / "pool" / str(job[0])),
                enumerate(names),
            )
            assert [path.read_bytes() for path in paths] == expected

    def test_seed_depends_on_file_name_not_folder(self, photo: Path, tmp_path: Path) -> None:
        """The same file under another folder gets the same noise; another name gets other noise."""
        copy = tmp_path / "elsewhere" / photo.name
        copy.parent.mkdir()
        copy.write_bytes(photo.read_bytes())
        renamed = tmp_path / "other.jpg"
        renamed.write_bytes(photo.read_bytes())
        cache = tmp_path / "cache"
        here = corrupted_file(photo, "shot_noise", 5, cache).read_bytes()
        assert corrupted_file(copy, "shot_noise", 5, cache).read_bytes() == here
        assert corrupted_file(renamed, "shot_noise", 5, cache).read_bytes() != here

    def test_cached_file_is_reused(self, photo: Path, tmp_path: Path) -> None:
        """A second call returns the existing file without rewriting it."""
        path = corrupted_file(photo, "fog", 1, tmp_path)
        mtime = path.stat().st_mtime_ns
        assert corrupted_file(photo, "fog", 1, tmp_path) == path
        assert path.stat().st_mtime_ns == mtime
        assert path.parent == tmp_path / "fog" / "1"
        assert not list(path.parent.glob(".*tmp*"))

    def test_load_image_makes_the_variant(
        self, photo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A `path#corruption@severity` reference loads the cached corrupted image."""
        monkeypatch.setenv("SBT_CACHE_DIR", str(tmp_path))
        image = load_image(f"{photo}#contrast@5")
        cached = corrupted_file(photo, "contrast", 5, tmp_path / "corrupted")
        with Image.open(cached) as expected:
            assert np.array_equal(np.asarray(image), np.asarray(expected.convert("RGB")))

    def test_bad_severity_and_tiny_image_are_one_line_errors(self, tmp_path: Path) -> None:
        """Severity outside 1..5 and images under 32 px fail with the reason, not a traceback."""
        tiny = Image.new("RGB", (20, 20))
        with pytest.raises(SbtError, match="severity must be 1 to 5"):
            corrupt_image(tiny, "fog", 6, "x.jpg")
        with pytest.raises(SbtError, match="at least 32x32"):
            corrupt_image(tiny, "fog", 1, "x.jpg")
        with pytest.raises(SbtError, match=r"missing\.jpg not found"):
            corrupted_file(tmp_path / "missing.jpg", "fog", 1, tmp_path)
