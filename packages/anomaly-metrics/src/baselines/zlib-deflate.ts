/**
 * A deflate encoder that reproduces reference zlib (1.2.x, the C library OpenCV and libpng link)
 * at compression level 9, memLevel 8, Z_DEFAULT_STRATEGY, byte for byte.
 *
 * Why not node:zlib? Node bundles Chromium's zlib fork, whose match finder differs: on smooth
 * 32x32 images its PNGs come out up to ~6% smaller than OpenCV's, which shifts the input
 * complexity of Serra et al. (spec 8). Matching reference zlib makes PNG lengths identical to
 * `cv2.imencode('.png', img, [IMWRITE_PNG_COMPRESSION, 9])`.
 *
 * What is reproduced (from zlib's documented algorithm): lazy matching (`deflate_slow`) with the
 * level-9 parameters good 32 / lazy 258 / nice 258 / chain 4096, the 3-byte rolling hash over
 * 15 bits, position 0 never being a match candidate (zlib's NIL), the TOO_FAR rule for 3-byte
 * matches, blocks of at most 16383 symbols, and per block the choice between stored, static and
 * dynamic Huffman coding with zlib's tree construction (heap order with depth tie-break, length
 * limiting, run-length coded code lengths). The input is taken in one piece (as zlib's one-shot
 * use); positions are absolute instead of a sliding window, which gives the same matches because
 * every candidate the window would have dropped is farther than the maximum distance anyway.
 */

const MIN_MATCH = 3;
const MAX_MATCH = 258;
const MIN_LOOKAHEAD = MAX_MATCH + MIN_MATCH + 1;
const W_SIZE = 1 << 15;
const W_MASK = W_SIZE - 1;
const MAX_DIST = W_SIZE - MIN_LOOKAHEAD;
const HASH_MASK = (1 << 15) - 1; // memLevel 8: hash_bits = 15, hash_shift = 5
const GOOD_MATCH = 32;
const MAX_LAZY = 258;
const NICE_MATCH = 258;
const MAX_CHAIN = 4096;
const TOO_FAR = 4096;
const SYMBOLS_PER_BLOCK = (1 << 14) - 1; // lit_bufsize - 1 with memLevel 8

const LITERALS = 256;
const END_BLOCK = 256;
const L_CODES = LITERALS + 1 + 29;
const D_CODES = 30;
const BL_CODES = 19;
const HEAP_SIZE = 2 * L_CODES + 1;
const MAX_BITS = 15;
const MAX_BL_BITS = 7;
const REP_3_6 = 16;
const REPZ_3_10 = 17;
const REPZ_11_138 = 18;

const EXTRA_LBITS = [
  0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const EXTRA_DBITS = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
];
const EXTRA_BLBITS = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7];
const BL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/** length - 3 -> length code (0..28); distance - 1 -> distance code (0..29); and their bases. */
const LENGTH_CODE = new Uint8Array(256);
const BASE_LENGTH = new Uint16Array(29);
const DIST_CODE = new Uint8Array(W_SIZE);
const BASE_DIST = new Uint16Array(D_CODES);
{
  let length = 0;
  for (let code = 0; code < 28; code++) {
    BASE_LENGTH[code] = length;
    for (let n = 0; n < 1 << EXTRA_LBITS[code]!; n++) LENGTH_CODE[length++] = code;
  }
  // Length 258 has its own code (285) rather than 284 with all extra bits set.
  LENGTH_CODE[255] = 28;
  BASE_LENGTH[28] = 255;
  let dist = 0;
  for (let code = 0; code < D_CODES; code++) {
    BASE_DIST[code] = dist;
    for (let n = 0; n < 1 << EXTRA_DBITS[code]!; n++) DIST_CODE[dist++] = code;
  }
}

/** A Huffman tree as zlib keeps it: per node a frequency, a length, a code and a parent. */
interface Tree {
  freq: Uint32Array;
  len: Uint16Array;
  code: Uint16Array;
  dad: Uint16Array;
  maxCode: number;
}

function newTree(): Tree {
  return {
    freq: new Uint32Array(HEAP_SIZE),
    len: new Uint16Array(HEAP_SIZE + 1),
    code: new Uint16Array(HEAP_SIZE),
    dad: new Uint16Array(HEAP_SIZE),
    maxCode: 0,
  };
}

interface StaticTree {
  len: Uint16Array;
  code: Uint16Array;
}

const STATIC_LTREE: StaticTree = (() => {
  const len = new Uint16Array(L_CODES + 2);
  for (let n = 0; n < 288; n++) len[n] = n < 144 ? 8 : n < 256 ? 9 : n < 280 ? 7 : 8;
  const count = new Uint16Array(MAX_BITS + 1);
  for (let n = 0; n < 288; n++) count[len[n]!]!++;
  const code = new Uint16Array(L_CODES + 2);
  assignCodes(len, code, L_CODES + 1, count);
  return { len, code };
})();

const STATIC_DTREE: StaticTree = (() => {
  const len = new Uint16Array(D_CODES).fill(5);
  const code = new Uint16Array(D_CODES);
  for (let n = 0; n < D_CODES; n++) code[n] = reverseBits(n, 5);
  return { len, code };
})();

function reverseBits(code: number, len: number): number {
  let res = 0;
  for (let i = 0; i < len; i++) {
    res = (res << 1) | (code & 1);
    code >>>= 1;
  }
  return res;
}

/** Canonical codes from lengths (zlib's gen_codes), bit-reversed for LSB-first output. */
function assignCodes(
  len: Uint16Array,
  code: Uint16Array,
  maxCode: number,
  blCount: Uint16Array,
): void {
  const nextCode = new Uint16Array(MAX_BITS + 1);
  let c = 0;
  for (let bits = 1; bits <= MAX_BITS; bits++) {
    c = (c + blCount[bits - 1]!) << 1;
    nextCode[bits] = c;
  }
  for (let n = 0; n <= maxCode; n++) {
    const l = len[n]!;
    if (l === 0) continue;
    code[n] = reverseBits(nextCode[l]!++, l);
  }
}

/** LSB-first bit writer into a growing byte buffer. */
class BitWriter {
  bytes = new Uint8Array(1024);
  length = 0;
  private bitBuf = 0;
  private bitCount = 0;

  private pushByte(b: number): void {
    if (this.length === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = b;
  }

  send(value: number, bits: number): void {
    this.bitBuf |= value << this.bitCount;
    this.bitCount += bits;
    while (this.bitCount >= 8) {
      this.pushByte(this.bitBuf & 0xff);
      this.bitBuf >>>= 8;
      this.bitCount -= 8;
    }
  }

  /** Flushes the partial byte (zlib's bi_windup). */
  alignToByte(): void {
    if (this.bitCount > 0) this.pushByte(this.bitBuf & 0xff);
    this.bitBuf = 0;
    this.bitCount = 0;
  }

  writeBytes(data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.pushByte(data[i]!);
  }
}

/** The per-stream state of zlib's trees.c: current block's symbols and trees. */
class BlockCoder {
  readonly ltree = newTree();
  readonly dtree = newTree();
  readonly bltree = newTree();
  /** Pending symbols: dist = 0 for a literal (lc = byte), else dist and lc = length - 3. */
  readonly symDist = new Uint16Array(SYMBOLS_PER_BLOCK + 1);
  readonly symLc = new Uint8Array(SYMBOLS_PER_BLOCK + 1);
  symbols = 0;
  optLen = 0;
  staticLen = 0;
  private readonly heap = new Int32Array(HEAP_SIZE);
  private heapLen = 0;
  private heapMax = 0;
  private readonly depth = new Uint8Array(HEAP_SIZE);
  private readonly blCount = new Uint16Array(MAX_BITS + 1);

  constructor(private readonly out: BitWriter) {
    this.initBlock();
  }

  private initBlock(): void {
    this.ltree.freq.fill(0, 0, L_CODES);
    this.dtree.freq.fill(0, 0, D_CODES);
    this.bltree.freq.fill(0, 0, BL_CODES);
    this.ltree.freq[END_BLOCK] = 1;
    this.optLen = 0;
    this.staticLen = 0;
    this.symbols = 0;
  }

  /** Records a literal; true when the block is full and must be flushed. */
  tallyLiteral(byte: number): boolean {
    this.symDist[this.symbols] = 0;
    this.symLc[this.symbols] = byte;
    this.symbols++;
    this.ltree.freq[byte]!++;
    return this.symbols === SYMBOLS_PER_BLOCK;
  }

  /** Records a match of `length` bytes at `distance`; true when the block is full. */
  tallyMatch(distance: number, length: number): boolean {
    const lc = length - MIN_MATCH;
    this.symDist[this.symbols] = distance;
    this.symLc[this.symbols] = lc;
    this.symbols++;
    this.ltree.freq[LENGTH_CODE[lc]! + LITERALS + 1]!++;
    this.dtree.freq[DIST_CODE[distance - 1]!]!++;
    return this.symbols === SYMBOLS_PER_BLOCK;
  }

  /** zlib's _tr_flush_block: picks stored, static or dynamic coding, whichever is shortest. */
  flushBlock(data: Uint8Array, blockStart: number, storedLen: number, last: boolean): void {
    this.buildTree(this.ltree, STATIC_LTREE, EXTRA_LBITS, LITERALS + 1, L_CODES, MAX_BITS);
    this.buildTree(this.dtree, STATIC_DTREE, EXTRA_DBITS, 0, D_CODES, MAX_BITS);
    const maxBlIndex = this.buildBlTree();
    let optLenBytes = (this.optLen + 3 + 7) >>> 3;
    const staticLenBytes = (this.staticLen + 3 + 7) >>> 3;
    if (staticLenBytes <= optLenBytes) optLenBytes = staticLenBytes;
    const lastBit = last ? 1 : 0;
    if (storedLen + 4 <= optLenBytes) {
      this.out.send(lastBit, 3); // stored block type 0
      this.out.alignToByte();
      this.out.send(storedLen & 0xffff, 16);
      this.out.send(~storedLen & 0xffff, 16);
      this.out.writeBytes(data.subarray(blockStart, blockStart + storedLen));
    } else if (staticLenBytes === optLenBytes) {
      this.out.send((1 << 1) + lastBit, 3);
      this.compressBlock(STATIC_LTREE, STATIC_DTREE);
    } else {
      this.out.send((2 << 1) + lastBit, 3);
      this.sendAllTrees(this.ltree.maxCode + 1, this.dtree.maxCode + 1, maxBlIndex + 1);
      this.compressBlock(this.ltree, this.dtree);
    }
    this.initBlock();
    if (last) this.out.alignToByte();
  }

  private smaller(tree: Tree, n: number, m: number): boolean {
    const fn = tree.freq[n]!;
    const fm = tree.freq[m]!;
    return fn < fm || (fn === fm && this.depth[n]! <= this.depth[m]!);
  }

  private downHeap(tree: Tree, k: number): void {
    const heap = this.heap;
    const v = heap[k]!;
    let j = k << 1;
    while (j <= this.heapLen) {
      if (j < this.heapLen && this.smaller(tree, heap[j + 1]!, heap[j]!)) j++;
      if (this.smaller(tree, v, heap[j]!)) break;
      heap[k] = heap[j]!;
      k = j;
      j <<= 1;
    }
    heap[k] = v;
  }

  /** zlib's build_tree: Huffman tree on the heap, then limited lengths and codes. */
  private buildTree(
    tree: Tree,
    stree: StaticTree | null,
    extra: readonly number[],
    extraBase: number,
    elems: number,
    maxLength: number,
  ): void {
    const heap = this.heap;
    this.heapLen = 0;
    this.heapMax = HEAP_SIZE;
    let maxCode = -1;
    for (let n = 0; n < elems; n++) {
      if (tree.freq[n] !== 0) {
        heap[++this.heapLen] = maxCode = n;
        this.depth[n] = 0;
      } else {
        tree.len[n] = 0;
      }
    }
    // The format needs at least two codes: force one or two of frequency 1.
    while (this.heapLen < 2) {
      const node = maxCode < 2 ? ++maxCode : 0;
      heap[++this.heapLen] = node;
      tree.freq[node] = 1;
      this.depth[node] = 0;
      this.optLen--;
      if (stree) this.staticLen -= stree.len[node]!;
    }
    tree.maxCode = maxCode;
    for (let n = this.heapLen >> 1; n >= 1; n--) this.downHeap(tree, n);
    let node = elems;
    do {
      const n = heap[1]!;
      heap[1] = heap[this.heapLen--]!;
      this.downHeap(tree, 1);
      const m = heap[1]!;
      heap[--this.heapMax] = n;
      heap[--this.heapMax] = m;
      tree.freq[node] = tree.freq[n]! + tree.freq[m]!;
      this.depth[node] = Math.max(this.depth[n]!, this.depth[m]!) + 1;
      tree.dad[n] = node;
      tree.dad[m] = node;
      heap[1] = node++;
      this.downHeap(tree, 1);
    } while (this.heapLen >= 2);
    heap[--this.heapMax] = heap[1]!;
    this.genBitLengths(tree, stree, extra, extraBase, maxLength);
    assignCodes(tree.len, tree.code, maxCode, this.blCount);
  }

  /** zlib's gen_bitlen: depths capped at maxLength, with the overflow redistributed. */
  private genBitLengths(
    tree: Tree,
    stree: StaticTree | null,
    extra: readonly number[],
    extraBase: number,
    maxLength: number,
  ): void {
    const heap = this.heap;
    const blCount = this.blCount;
    blCount.fill(0);
    tree.len[heap[this.heapMax]!] = 0; // root
    let overflow = 0;
    let h: number;
    for (h = this.heapMax + 1; h < HEAP_SIZE; h++) {
      const n = heap[h]!;
      let bits = tree.len[tree.dad[n]!]! + 1;
      if (bits > maxLength) {
        bits = maxLength;
        overflow++;
      }
      tree.len[n] = bits;
      if (n > tree.maxCode) continue; // not a leaf
      blCount[bits]!++;
      const xbits = n >= extraBase ? extra[n - extraBase]! : 0;
      const f = tree.freq[n]!;
      this.optLen += f * (bits + xbits);
      if (stree) this.staticLen += f * (stree.len[n]! + xbits);
    }
    if (overflow === 0) return;
    do {
      let bits = maxLength - 1;
      while (blCount[bits] === 0) bits--;
      blCount[bits]!--;
      blCount[bits + 1]! += 2;
      blCount[maxLength]!--;
      overflow -= 2;
    } while (overflow > 0);
    for (let bits = maxLength; bits !== 0; bits--) {
      let n = blCount[bits]!;
      while (n !== 0) {
        const m = heap[--h]!;
        if (m > tree.maxCode) continue;
        if (tree.len[m] !== bits) {
          this.optLen += (bits - tree.len[m]!) * tree.freq[m]!;
          tree.len[m] = bits;
        }
        n--;
      }
    }
  }

  /**
   * Walks a tree's code lengths as runs, as zlib's scan_tree (count only) and send_tree (emit)
   * do: short runs literally, repeats of a non-zero length with code 16, zero runs with 17/18.
   */
  private walkLengths(tree: Tree, maxCode: number, emit: boolean): void {
    const bl = this.bltree;
    let prevLen = -1;
    let nextLen = tree.len[0]!;
    let count = 0;
    let maxCount = 7;
    let minCount = 4;
    if (nextLen === 0) {
      maxCount = 138;
      minCount = 3;
    }
    if (!emit) tree.len[maxCode + 1] = 0xffff; // guard
    for (let n = 0; n <= maxCode; n++) {
      const curLen = nextLen;
      nextLen = tree.len[n + 1]!;
      if (++count < maxCount && curLen === nextLen) continue;
      if (count < minCount) {
        if (emit) {
          for (; count > 0; count--) this.sendCode(curLen, bl);
        } else bl.freq[curLen]! += count;
      } else if (curLen !== 0) {
        if (curLen !== prevLen) {
          if (emit) {
            this.sendCode(curLen, bl);
            count--;
          } else bl.freq[curLen]!++;
        }
        if (emit) {
          this.sendCode(REP_3_6, bl);
          this.out.send(count - 3, 2);
        } else bl.freq[REP_3_6]!++;
      } else if (count <= 10) {
        if (emit) {
          this.sendCode(REPZ_3_10, bl);
          this.out.send(count - 3, 3);
        } else bl.freq[REPZ_3_10]!++;
      } else if (emit) {
        this.sendCode(REPZ_11_138, bl);
        this.out.send(count - 11, 7);
      } else bl.freq[REPZ_11_138]!++;
      count = 0;
      prevLen = curLen;
      if (nextLen === 0) {
        maxCount = 138;
        minCount = 3;
      } else if (curLen === nextLen) {
        maxCount = 6;
        minCount = 3;
      } else {
        maxCount = 7;
        minCount = 4;
      }
    }
  }

  /** zlib's build_bl_tree; returns the index in BL_ORDER of the last code length to send. */
  private buildBlTree(): number {
    this.walkLengths(this.ltree, this.ltree.maxCode, false);
    this.walkLengths(this.dtree, this.dtree.maxCode, false);
    this.buildTree(this.bltree, null, EXTRA_BLBITS, 0, BL_CODES, MAX_BL_BITS);
    let maxBlIndex: number;
    for (maxBlIndex = BL_CODES - 1; maxBlIndex >= 3; maxBlIndex--) {
      if (this.bltree.len[BL_ORDER[maxBlIndex]!] !== 0) break;
    }
    this.optLen += 3 * (maxBlIndex + 1) + 5 + 5 + 4;
    return maxBlIndex;
  }

  private sendAllTrees(lcodes: number, dcodes: number, blcodes: number): void {
    this.out.send(lcodes - 257, 5);
    this.out.send(dcodes - 1, 5);
    this.out.send(blcodes - 4, 4);
    for (let rank = 0; rank < blcodes; rank++) this.out.send(this.bltree.len[BL_ORDER[rank]!]!, 3);
    this.walkLengths(this.ltree, lcodes - 1, true);
    this.walkLengths(this.dtree, dcodes - 1, true);
  }

  private sendCode(symbol: number, tree: StaticTree): void {
    this.out.send(tree.code[symbol]!, tree.len[symbol]!);
  }

  private compressBlock(ltree: StaticTree, dtree: StaticTree): void {
    for (let s = 0; s < this.symbols; s++) {
      const dist = this.symDist[s]!;
      const lc = this.symLc[s]!;
      if (dist === 0) {
        this.sendCode(lc, ltree);
        continue;
      }
      const lcode = LENGTH_CODE[lc]!;
      this.sendCode(lcode + LITERALS + 1, ltree);
      if (EXTRA_LBITS[lcode]! !== 0) this.out.send(lc - BASE_LENGTH[lcode]!, EXTRA_LBITS[lcode]!);
      const d = dist - 1;
      const dcode = DIST_CODE[d]!;
      this.sendCode(dcode, dtree);
      if (EXTRA_DBITS[dcode]! !== 0) this.out.send(d - BASE_DIST[dcode]!, EXTRA_DBITS[dcode]!);
    }
    this.sendCode(END_BLOCK, ltree);
  }
}

/**
 * Raw deflate stream (no zlib header) of `input`, identical to reference zlib's output at level
 * 9, memLevel 8, default strategy, for any window size that covers the input (libpng shrinks the
 * window for small images; matches are unaffected).
 */
export function deflateLikeZlib(input: Uint8Array): Uint8Array {
  const n = input.length;
  // Zero padding past the end: longest-match comparisons may read up to MAX_MATCH bytes ahead;
  // zlib zeroes that region too, and results are capped at the real data anyway.
  const window = new Uint8Array(n + MAX_MATCH + 8);
  window.set(input);
  const head = new Int32Array(HASH_MASK + 1); // 0 = NIL, as in zlib: position 0 never matches
  const prev = new Int32Array(W_SIZE);
  const out = new BitWriter();
  const coder = new BlockCoder(out);
  const hashAt = (p: number) =>
    ((window[p]! << 10) ^ (window[p + 1]! << 5) ^ window[p + 2]!) & HASH_MASK;
  const insert = (p: number): number => {
    const h = hashAt(p);
    const candidate = head[h]!;
    prev[p & W_MASK] = candidate;
    head[h] = p;
    return candidate;
  };

  let strstart = 0;
  let blockStart = 0;
  let matchStart = 0;
  let matchLength = MIN_MATCH - 1;
  let matchAvailable = false;

  const longestMatch = (curMatchIn: number, prevLength: number, lookahead: number): number => {
    let curMatch = curMatchIn;
    let chainLength = MAX_CHAIN;
    const scan = strstart;
    let bestLen = prevLength;
    let nice = NICE_MATCH;
    const limit = strstart > MAX_DIST ? strstart - MAX_DIST : 0;
    const strend = strstart + MAX_MATCH;
    let scanEnd1 = window[scan + bestLen - 1]!;
    let scanEnd = window[scan + bestLen]!;
    if (prevLength >= GOOD_MATCH) chainLength >>= 2;
    if (nice > lookahead) nice = lookahead;
    for (;;) {
      const match = curMatch;
      if (
        window[match + bestLen] === scanEnd &&
        window[match + bestLen - 1] === scanEnd1 &&
        window[match] === window[scan] &&
        window[match + 1] === window[scan + 1]
      ) {
        // Byte 2 is equal whenever bytes 0 and 1 are and the hashes agree; zlib skips it too.
        let s = scan + 3;
        let m = match + 3;
        while (s < strend && window[s] === window[m]) {
          s++;
          m++;
        }
        const len = s - scan;
        if (len > bestLen) {
          matchStart = curMatch;
          bestLen = len;
          if (len >= nice) break;
          scanEnd1 = window[scan + bestLen - 1]!;
          scanEnd = window[scan + bestLen]!;
        }
      }
      curMatch = prev[curMatch & W_MASK]!;
      if (curMatch <= limit || --chainLength === 0) break;
    }
    return Math.min(bestLen, lookahead);
  };

  const flush = (last: boolean) => {
    coder.flushBlock(window, blockStart, strstart - blockStart, last);
    blockStart = strstart;
  };

  while (strstart < n) {
    const lookahead = n - strstart;
    let hashHead = 0;
    if (lookahead >= MIN_MATCH) hashHead = insert(strstart);
    const prevLength = matchLength;
    const prevMatch = matchStart;
    matchLength = MIN_MATCH - 1;
    if (hashHead !== 0 && prevLength < MAX_LAZY && strstart - hashHead <= MAX_DIST) {
      matchLength = longestMatch(hashHead, prevLength, lookahead);
      if (matchLength === MIN_MATCH && strstart - matchStart > TOO_FAR) matchLength = MIN_MATCH - 1;
    }
    if (prevLength >= MIN_MATCH && matchLength <= prevLength) {
      // The previous match is better: emit it and insert the strings it covers.
      const maxInsert = strstart + lookahead - MIN_MATCH;
      const full = coder.tallyMatch(strstart - 1 - prevMatch, prevLength);
      for (let k = prevLength - 2; k > 0; k--) {
        if (++strstart <= maxInsert) insert(strstart);
      }
      matchAvailable = false;
      matchLength = MIN_MATCH - 1;
      strstart++;
      if (full) flush(false);
    } else if (matchAvailable) {
      // No better match here: the previous position becomes a literal.
      if (coder.tallyLiteral(window[strstart - 1]!)) flush(false);
      strstart++;
    } else {
      matchAvailable = true;
      strstart++;
    }
  }
  if (matchAvailable) coder.tallyLiteral(window[strstart - 1]!);
  flush(true);
  return out.bytes.slice(0, out.length);
}

/** Adler-32 checksum of the uncompressed data (the zlib stream trailer). */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (let i = 0; i < data.length; ) {
    const end = Math.min(data.length, i + 5552);
    for (; i < end; i++) {
      a += data[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/**
 * A complete zlib stream (header, deflate data, Adler-32) with the header libpng writes for
 * `input.length` bytes of image data. libpng asks zlib for the smallest window that holds the
 * data plus 262 bytes, then rewrites the header's window field ("optimize_cmf") to the smallest
 * power of two >= the data size. Neither changes the compressed data, only the first two bytes.
 */
export function zlibCompressLikeLibpng(input: Uint8Array): Uint8Array {
  const size = input.length;
  let windowBits = 15;
  if (size <= 16384) {
    let half = 1 << (windowBits - 1);
    while (size + MIN_LOOKAHEAD <= half) {
      half >>= 1;
      windowBits--;
    }
  }
  let cinfo = windowBits - 8;
  if (size <= 16384) {
    let half = 1 << (cinfo + 7);
    if (size <= half) {
      do {
        half >>= 1;
        cinfo--;
      } while (cinfo > 0 && size <= half);
    }
  }
  const cmf = 8 + (cinfo << 4);
  let flg = 3 << 6; // FLEVEL 3: level 9
  flg += 31 - (((cmf << 8) + flg) % 31);
  const deflated = deflateLikeZlib(input);
  const stream = new Uint8Array(2 + deflated.length + 4);
  stream[0] = cmf;
  stream[1] = flg;
  stream.set(deflated, 2);
  new DataView(stream.buffer).setUint32(2 + deflated.length, adler32(input));
  return stream;
}
