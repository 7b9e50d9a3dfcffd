"""Bounds on what :func:`scipy.io.loadmat` may allocate for a MATLAB file, checked
before it reads the file: IMDB-WIKI's metadata (``wiki.mat``, ``imdb.mat``) comes
from a download, and a small damaged or crafted file must not fill the memory.

:func:`check_mat` refuses a MATLAB 5 file whose compressed variables inflate to far
more than its size, or one that declares an array larger than its bytes can hold
(nested cells and structs included), and a MATLAB 4 file whose matrices declare more
bytes than it holds. Only the standard library is imported here.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
import zlib

__all__ = ["MAX_DECOMPRESSION_RATIO", "MIN_DECOMPRESSED_LIMIT", "check_mat"]

# The most a metadata file may decompress to: the real wiki.mat and imdb.mat hold a few
# times their size once decompressed; a file that holds far more is refused before it
# is read, so that a small damaged or crafted file cannot fill the memory.
MAX_DECOMPRESSION_RATIO = 50
MIN_DECOMPRESSED_LIMIT = 64 * 1024**2  # bytes allowed whatever the file's size
_MAT5_COMPRESSED = 15  # miCOMPRESSED: a zlib stream holding one variable
_CHUNK = 1024**2


def _decompression_limit(size: int) -> int:
    return max(MIN_DECOMPRESSED_LIMIT, MAX_DECOMPRESSION_RATIO * size)


def _check_decompressed_size(f, mat_file: str, size: int) -> list[int] | None:
    """Refuse a MATLAB 5 file whose variables decompress to far more than its size.

    The compressed variables are inflated in chunks of 1 MiB and only counted, so the
    check holds at most a chunk in memory whatever the file claims. Returns the
    decompressed size of each compressed variable, in order; None for files that are
    not MATLAB 5 files, or are damaged, which are left for :func:`scipy.io.loadmat`
    to report.
    """
    limit = _decompression_limit(size)
    total = 0
    sizes: list[int] = []
    f.seek(0)
    header = f.read(128)
    order = {b"IM": "<", b"MI": ">"}.get(header[126:128])
    if len(header) < 128 or order is None:
        return None
    while True:
        tag = f.read(8)
        if len(tag) < 8:
            return sizes
        kind, nbytes = struct.unpack(order + "II", tag)
        if kind != _MAT5_COMPRESSED:
            total += nbytes  # stored as it is: no bigger than the file
            f.seek(nbytes + (-nbytes % 8), os.SEEK_CUR)
            continue
        inflate = zlib.decompressobj()
        left = nbytes
        inflated = 0
        while left > 0 and not inflate.eof:
            data = f.read(min(left, _CHUNK))
            if not data:
                return None
            left -= len(data)
            while True:
                try:
                    out = inflate.decompress(data, _CHUNK)
                except zlib.error:
                    return None
                total += len(out)
                inflated += len(out)
                if total > limit:
                    raise ValueError(
                        f"{mat_file}: refused, its variables decompress to more than "
                        f"{limit:,} bytes ({limit // max(size, 1):,} times the file's "
                        f"{size:,} bytes), far more than IMDB-WIKI's metadata files "
                        "hold. The file is damaged or not an IMDB-WIKI metadata file; "
                        "download wiki.mat or imdb.mat again."
                    )
                data = inflate.unconsumed_tail
                if not data and len(out) < _CHUNK:
                    break
        sizes.append(inflated)
        f.seek(left, os.SEEK_CUR)


# --------------------------------------------------------------------------- declared sizes
# scipy.io.loadmat allocates a cell or struct array as soon as it has read its header
# (np.empty of the declared dimensions), before reading any element: a file of a few
# hundred bytes can declare billions of elements. Every array header of the file,
# nested ones included, is read first, and each array must fit in the bytes it
# occupies: at least 8 bytes per element of a cell array (each element has its own
# tag), per field of each element of a struct or object array, and 1 per element of
# any other array.

_MI_MATRIX = 14
_MAX_DIMS = 32  # scipy's own limit
_MAX_NESTING = 100
_CELL, _STRUCT, _OBJECT, _SPARSE, _FUNCTION, _OPAQUE = 1, 2, 3, 5, 16, 17
_NUMERIC = frozenset((4, *range(6, 16)))  # char, then double to uint64


class _DeclaredSizes:
    """Walks every array header of one MATLAB 5 variable held in ``buf``.

    Each element must lie within its container, and its content must fill it exactly:
    scipy reads the next element right after the content, so that what is walked here
    is what scipy reads.
    """

    def __init__(self, buf, order: str, mat_file: str, name: str):
        self.buf, self.order, self.mat_file, self.name = buf, order, mat_file, name
        self.tag = struct.Struct(order + "II").unpack_from
        self.word = struct.Struct(order + "I").unpack_from
        self.int = struct.Struct(order + "i").unpack_from
        # an array's tag, flags, 2-D dimensions and name tag, all in full tags
        self.head = struct.Struct(order + "8I2i2I").unpack_from

    def refuse(self, detail: str) -> ValueError:
        return ValueError(
            f"{self.mat_file}: refused, the variable {self.name} {detail}. The file is "
            "damaged or not an IMDB-WIKI metadata file; download wiki.mat or imdb.mat "
            "again."
        )

    def sub(self, o: int, end: int) -> tuple[int, int, int]:
        """A sub-element at ``o``: (byte count, offset of its data, offset after it)."""
        if o + 8 > end:
            raise self.refuse("holds an array whose content is cut short")
        first, nbytes = self.tag(self.buf, o)
        if first >> 16:  # small data element: the data in the tag's second half
            if first >> 16 > 4:
                raise self.refuse("holds a damaged small data element")
            return first >> 16, o + 4, o + 8
        after = o + 8 + nbytes + (-nbytes % 8)
        if after > end:
            raise self.refuse("holds a sub-element past the end of its array")
        return nbytes, o + 8, after

    def matrix(self, o: int, end: int, depth: int) -> int:
        """Walk the miMATRIX element at ``o`` (ending by ``end``); returns its end."""
        if o + 8 > end:
            raise self.refuse("holds an array past the end of its container")
        kind, nbytes = self.tag(self.buf, o)
        if kind != _MI_MATRIX:
            raise self.refuse(f"holds an element of type {kind} where an array belongs")
        after = o + 8 + nbytes + (-nbytes % 8)
        if after > end:
            raise self.refuse(f"declares an element of {nbytes:,} bytes where "
                              f"{end - o - 8:,} are left")
        if depth > _MAX_NESTING:
            raise self.refuse(f"nests arrays more than {_MAX_NESTING} levels deep")
        if nbytes:
            self.body(o + 8, o + 8 + nbytes, depth)
        return after

    def body(self, o: int, end: int, depth: int) -> None:
        """Walk an array's content as scipy reads it; it must end at ``end`` exactly."""
        count, data, o = self.sub(o, end)  # array flags: the class in the low byte
        if count != 8:
            raise self.refuse("holds an array without valid array flags")
        flags = self.word(self.buf, data)[0]
        cls, is_complex = flags & 0xFF, bool(flags >> 11 & 1)
        if cls == _OPAQUE:  # no dimensions nor name: three strings, then an array
            for _ in range(3):
                o = self.sub(o, end)[2]
            self.end(self.matrix(o, end, depth + 1), end)
            return
        count, data, o = self.sub(o, end)  # dimensions
        if count % 4 or not 0 < count // 4 <= _MAX_DIMS:
            raise self.refuse("holds an array with damaged dimensions")
        dims = struct.unpack_from(f"{self.order}{count // 4}i", self.buf, data)
        if any(d < 0 for d in dims):
            raise self.refuse(f"declares negative dimensions {'x'.join(map(str, dims))}")
        o = self.sub(o, end)[2]  # the name
        if cls == _SPARSE:  # row indices, column pointers, values: nothing sized by dims
            for _ in range(4 if is_complex else 3):
                o = self.sub(o, end)[2]
            self.end(o, end)
            return
        if cls == _FUNCTION:
            self.end(self.matrix(o, end, depth + 1), end)
            return
        if cls == _OBJECT:
            o = self.sub(o, end)[2]  # the class name
        fields = 1
        if cls in (_STRUCT, _OBJECT):
            count, data, o = self.sub(o, end)
            if count != 4:
                raise self.refuse("holds a struct with a damaged field name length")
            length = self.int(self.buf, data)[0]
            count, _, o = self.sub(o, end)
            if length <= 0 and count:
                raise self.refuse("holds a struct with damaged field names")
            fields = count // length if length > 0 else 0
        elif cls != _CELL and cls not in _NUMERIC:
            raise self.refuse(f"holds an array of unknown class {cls}")
        elements = math.prod(dims)
        per = 8 * max(fields, 1) if cls in (_CELL, _STRUCT, _OBJECT) else 1
        if elements > max(1, (end - o) // per):
            raise self.refuse(
                f"declares an array of {'x'.join(map(str, dims))} = {elements:,} elements "
                f"in {end - o:,} bytes, more than its bytes can hold")
        if cls in _NUMERIC:  # the values, and the imaginary parts
            for _ in range(2 if is_complex else 1):
                o = self.sub(o, end)[2]
        else:
            o = self.elements(o, end, elements * (fields if cls != _CELL else 1), depth + 1)
        self.end(o, end)

    def elements(self, o: int, end: int, n: int, depth: int) -> int:
        """Walk ``n`` arrays from ``o``: :meth:`matrix`, with a shortcut for the usual
        element of a cell array (a 2-D real numeric or character array with a name and
        its values in full tags), which it accepts exactly when :meth:`matrix` would."""
        buf, tag, head, matrix = self.buf, self.tag, self.head, self.matrix
        for _ in range(n):
            if o + 48 <= end:
                (kind, nbytes, flags_type, flags_count, flags, _, dims_type, dims_count, rows,
                 cols, first, count) = head(buf, o)
                stop = o + 8 + nbytes
                after = stop + (-nbytes % 8)
                if (kind == _MI_MATRIX and after <= end and flags_type == 6
                        and flags_count == 8 and dims_type == 5 and dims_count == 8
                        and (flags & 0xFF) in _NUMERIC and not flags & 0x800
                        and rows >= 0 and cols >= 0 and first >> 16 <= 4):
                    values = o + 48 if first >> 16 else o + 48 + count + (-count % 8)
                    if values + 8 <= stop:  # the values' tag, then the values
                        first, count = tag(buf, values)
                        if first >> 16:
                            done = values + 8 if first >> 16 <= 4 else -1
                        else:
                            done = values + 8 + count + (-count % 8)
                        size = rows * cols
                        if done == stop and (size <= 1 or size <= stop - values):
                            o = after
                            continue
            o = matrix(o, end, depth)
        return o

    def end(self, o: int, end: int) -> None:
        """scipy reads the next element right after the content: nothing may be left."""
        if o != end:
            raise self.refuse(f"declares an array of {end - o:,} bytes more than its "
                              "content")


def _inflate(f, nbytes: int, limit: int) -> bytes | None:
    """The zlib stream in the next ``nbytes`` bytes of ``f``, up to ``limit`` bytes."""
    inflate = zlib.decompressobj()
    parts, size = [], 0
    while nbytes > 0 and not inflate.eof and size <= limit:
        data = f.read(min(nbytes, _CHUNK))
        if not data:
            break
        nbytes -= len(data)
        try:
            out = inflate.decompress(data, limit + 1 - size)
        except zlib.error:
            return None
        parts.append(out)
        size += len(out)
    return None if size > limit else b"".join(parts)


def _check_declared_sizes(f, mat_file: str, size: int, inflated: list[int]) -> None:
    """Refuse a MATLAB 5 file declaring an array larger than its bytes can hold.

    Every variable is walked, compressed or not, nested cells and structs included,
    before :func:`scipy.io.loadmat` allocates anything. ``inflated`` holds the
    decompressed size of each compressed variable (from
    :func:`_check_decompressed_size`, within its limit): each is inflated once more
    here, in memory, to be walked.
    """
    f.seek(0)
    header = f.read(128)
    order = {b"IM": "<", b"MI": ">"}[header[126:128]]
    if struct.unpack(order + "H", header[124:126])[0] != 0x0100:
        return  # a v7.3 (HDF5) file: scipy refuses it
    try:
        whole = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        f.seek(0)
        whole = f.read()
    try:
        position, compressed = 128, iter(inflated)
        while position + 8 <= size:
            kind, nbytes = struct.unpack_from(order + "II", whole, position)
            name = f"at byte {position}"
            if kind == _MAT5_COMPRESSED:
                f.seek(position + 8)
                buf = _inflate(f, nbytes, next(compressed, 0))
                if buf is not None:  # else damaged: scipy says so
                    _DeclaredSizes(buf, order, mat_file, name).matrix(0, len(buf), 0)
            elif kind == _MI_MATRIX:
                _DeclaredSizes(whole, order, mat_file, name).matrix(position, size, 0)
            position += 8 + nbytes  # where scipy reads the next variable
    finally:
        if isinstance(whole, mmap.mmap):
            whole.close()


def _check_mat4_sizes(f, mat_file: str, size: int) -> None:
    """Refuse a MATLAB 4 file whose matrices declare more bytes than it holds."""
    f.seek(0)
    position = 0
    order = "<"
    while position + 20 <= size:
        f.seek(position)
        head = f.read(20)
        mopt = struct.unpack("<i", head[:4])[0]
        order = "<" if 0 <= mopt <= 5000 else ">"
        mopt, rows, cols, imag, namelen = struct.unpack(order + "5i", head)
        precision = (mopt // 10) % 10
        itemsize = {0: 8, 1: 4, 2: 4, 3: 2, 4: 2, 5: 1}.get(precision, 8)
        full = mopt % 10 != 2
        needed = namelen + itemsize * rows * cols * (2 if imag and full else 1)
        if min(rows, cols, namelen) < 0 or needed > size - position - 20:
            raise ValueError(
                f"{mat_file}: refused, a matrix declares {rows}x{cols} elements, more "
                f"than the file's {size:,} bytes hold. The file is damaged or not an "
                "IMDB-WIKI metadata file; download wiki.mat or imdb.mat again."
            )
        position += 20 + needed


def check_mat(f, mat_file: str) -> None:
    """Bound what :func:`scipy.io.loadmat` may allocate for the open file ``f``."""
    size = os.fstat(f.fileno()).st_size
    f.seek(0)
    head = f.read(128)
    if len(head) >= 4 and 0 in head[:4]:
        _check_mat4_sizes(f, mat_file, size)
    else:
        inflated = _check_decompressed_size(f, mat_file, size)
        if inflated is not None:
            _check_declared_sizes(f, mat_file, size, inflated)
    f.seek(0)
