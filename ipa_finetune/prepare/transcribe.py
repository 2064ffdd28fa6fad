"""epitran behind one call: check a code, transcribe many strings in parallel, through the on-disk cache.

    check_code("rus-Cyrl", where)                 # ConfigError unless epitran transcribes it offline
    t = Transcriber("rus-Cyrl", cache_dir)
    ipa, todo = t.lookup(texts)                   # {text: IPA} from the cache, the texts not in it
    ipa.update(t.transcribe(todo, workers=2))     # epitran in 2 processes, each chunk cached
    t.hits, t.calls                               # strings served by the cache / given to epitran

Each string is transcribed with `transliterate(text)` and epitran's defaults (no punctuation
normalisation, no ligatures), whole, as the data holds it. Codes whose rules ship in epitran's wheel
(data/map/<code>.csv) work offline. The codes epitran routes to a special backend need something pip
does not install (a program or a dictionary downloaded at first use), so they are refused.
"""
import concurrent.futures
import math
import multiprocessing
import signal
import time

from ..cpus import default_cpus
from ..config.schema import did_you_mean, show
from ..errors import ConfigError, DataError, UserError
from .ipa_cache import IPACache

# What the special backends of epitran 1.35 need, for the refusal message; a code epitran adds to its
# special backends later is refused too, with the generic reason.
NEEDS = {
    "eng-Latn": "the lex_lookup program of CMU Flite, which is not a PyPI package (it is built from "
                "flite's C sources)",
    "cmn-Hans": "the CC-CEDICT dictionary, which epitran downloads from mdbg.net at first use",
    "cmn-Hant": "the CC-CEDICT dictionary, which epitran downloads from mdbg.net at first use",
    "yue-Hant": "the CC-Canto dictionary, which epitran downloads from cccanto.org at first use",
    "jpn-Jpan": "the ipa-dict Japanese word list, which epitran downloads from GitHub at first use",
}
MAX_DEFAULT_WORKERS = 8  # each worker spends ~1.5 s and ~150 MB building epitran's tables
CHUNKS_PER_WORKER = 16   # many chunks per worker: balanced to the end, and the bar keeps moving
MAX_CHUNK = 512          # strings per chunk (~0.25 s of work): bounds each result's size and latency


def epitran_version():
    """The installed epitran's version; a UserError naming the fix when it is missing."""
    from importlib import metadata

    try:
        return metadata.version("epitran")
    except metadata.PackageNotFoundError:
        raise UserError("epitran is not installed: pip install -r requirements.txt (it pins epitran "
                        "and its dependencies)") from None


def offline_codes():
    """The codes whose rules ship with epitran (its data/map/<code>.csv files), sorted."""
    from importlib import resources

    epitran_version()
    names = [entry.name for entry in resources.files("epitran").joinpath("data", "map").iterdir()]
    return sorted(n[:-4] for n in names if n.endswith(".csv") and not n[:-4].endswith("_rev"))


def special_codes():
    """{code: what it needs} for the codes epitran hands to a special backend (not offline)."""
    from epitran import Epitran

    special = getattr(Epitran, "special", {})  # code -> backend class
    return {code: NEEDS.get(code, "resources that are not in epitran's wheel") for code in special}


def check_code(code, where):
    """Raise ConfigError unless epitran transcribes `code` offline; `where` names the setting."""
    version = epitran_version()
    special = special_codes()
    if code in special:
        raise ConfigError(f"{where} = {show(code)}: epitran transcribes it with {special[code]}, so "
                          "prepare-data.py refuses it (everything here must work offline after "
                          "`make venv`); epitran's rule-based codes work offline")
    codes = offline_codes()
    if code not in codes:
        same = [c for c in codes if c.split("-")[0] == code.split("-")[0]]
        hint = f"; for '{code.split('-')[0]}' it has {', '.join(same)}" if same else ""
        raise ConfigError(f"{where} = {show(code)} is not an epitran code{did_you_mean(code, codes)}"
                          f"{hint} (epitran {version} transcribes {len(codes)} codes offline: "
                          f"{', '.join(codes)})")


def default_workers():
    """CPUs this process may use (Slurm's allocation inside a job), at most MAX_DEFAULT_WORKERS."""
    return max(1, min(default_cpus(), MAX_DEFAULT_WORKERS))


# ----------------------------------------------------------------------------- one process

def load_backend(code):
    """`text -> IPA` for a checked code. epitran.Epitran(code).transliterate(text) hands the text to
    epitran.simple.SimpleEpitran(code).transliterate(text, False, False) for every code check_code
    lets through; building that backend alone skips two feature tables transliterate never reads
    (1.5 s instead of 4 s per process). tests/test_prepare_data.py checks the output against
    epitran.Epitran itself."""
    from epitran.simple import SimpleEpitran

    epi = SimpleEpitran(code)
    return lambda text: epi.transliterate(text, False, False)


_WORKER = {}  # in each worker process: "code" and "backend", built once by _start_worker


def _start_worker(code):
    _WORKER.update(code=code, backend=load_backend(code))


def _start_pool_worker(code):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops the pool, workers stay quiet
    _start_worker(code)


def _transcribe_chunk(texts):
    """(IPA of each text, CPU seconds it took); runs in a worker, or in-process with workers=1."""
    start, out = time.process_time(), []
    for text in texts:
        try:
            out.append(_WORKER["backend"](text))
        except Exception as e:  # a string epitran cannot handle: name it rather than lose the run
            raise DataError(f"epitran {_WORKER['code']} failed on the text {show(text)}: "
                            f"{type(e).__name__}: {e}") from None
    return out, time.process_time() - start


def _chunks(texts, workers):
    size = max(1, min(MAX_CHUNK, math.ceil(len(texts) / (workers * CHUNKS_PER_WORKER))))
    return [texts[i:i + size] for i in range(0, len(texts), size)]


def _in_process(code, chunks):
    _start_worker(code)
    for chunk in chunks:
        yield chunk, _transcribe_chunk(chunk)


def _in_pool(code, chunks, workers):
    # spawn, not fork: the parent holds arrow/datasets threads, which fork() does not copy safely
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_pool_worker,
                                                initargs=(code,)) as pool:
        futures = {pool.submit(_transcribe_chunk, chunk): chunk for chunk in chunks}
        try:
            for future in concurrent.futures.as_completed(futures):
                yield futures[future], future.result()
        except concurrent.futures.process.BrokenProcessPool:
            raise UserError("a transcription worker died (out of memory?); what was transcribed is "
                            "cached, so re-run the same command, perhaps with fewer --workers") from None
        finally:
            for future in futures:
                future.cancel()


# ----------------------------------------------------------------------------- the transcriber

class Transcriber:
    """Transcribes strings with one epitran code, through the cache in `cache_dir`:

        found, todo = t.lookup(texts)              # cached {text: IPA}, and the texts still to do
        found.update(t.transcribe(todo, workers))  # epitran on those, cached as they come
    """

    def __init__(self, code, cache_dir):
        self.code = code
        self.version = epitran_version()
        self.cache = IPACache(cache_dir, code, self.version)
        self.hits = 0   # strings found in the cache
        self.calls = 0  # strings transcribed by epitran (counted as the workers return them)
        self.cpu_seconds = 0.0  # CPU time epitran spent on them, in all processes (start-up excluded)
        self.workers_used = 0

    def lookup(self, texts):
        """({text: IPA} of the cached distinct texts, [the others, sorted])."""
        unique = sorted(set(texts))
        found = self.cache.get_many(unique)
        self.hits += len(found)
        return found, [t for t in unique if t not in found]

    def transcribe(self, texts, workers=1):
        """{text: IPA} by epitran, in `workers` processes (1: in this one), with a progress bar; each
        chunk is cached as it arrives."""
        from tqdm.auto import tqdm

        if not texts:
            return {}
        chunks = _chunks(list(texts), workers)
        self.workers_used = min(workers, len(chunks))
        results = (_in_process(self.code, chunks) if self.workers_used == 1
                   else _in_pool(self.code, chunks, self.workers_used))
        done = {}
        with tqdm(total=len(texts), unit="str", desc=f"epitran {self.code}", dynamic_ncols=True) as bar:
            for chunk, (ipas, cpu_seconds) in results:
                pairs = list(zip(chunk, ipas))
                self.cache.put_many(pairs)
                done.update(pairs)
                self.calls += len(ipas)
                self.cpu_seconds += cpu_seconds
                bar.update(len(ipas))
        return done

    def close(self):
        self.cache.close()
