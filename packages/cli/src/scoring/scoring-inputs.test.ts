import { describe, expect, it } from 'vitest';
import { parseDataArg } from '../data/data-source.js';
import { uniqueNames } from './scoring-inputs.js';

describe('parseDataArg', () => {
  it('reads [NAME=]SOURCE[@SPLIT] with names from catalogue names and file names', () => {
    expect(parseDataArg('ood', 'fashion-mnist', 'test')).toMatchObject({
      name: 'fashion-mnist',
      source: 'fashion-mnist',
      split: 'test',
    });
    expect(parseDataArg('ood', 'runs/general@validation', 'test')).toMatchObject({
      name: 'general',
      source: 'runs/general',
      split: 'validation',
    });
    expect(parseDataArg('ood', 'digits=ood/digits.hgds', 'test')).toMatchObject({
      name: 'digits',
      source: 'ood/digits.hgds',
      split: 'test',
    });
    expect(parseDataArg('in', '/data/set.v2.hgds', 'test').name).toBe('set.v2');
  });

  it('rejects an empty source and odd names', () => {
    expect(() => parseDataArg('ood', 'x=', 'test')).toThrow(/names no dataset/);
    expect(() => parseDataArg('ood', 'a b=x.hgds', 'test')).toThrow(/the name must use/);
  });

  it('makes repeated names unique', () => {
    const refs = [
      parseDataArg('in', 'fashion-mnist', 'test'),
      parseDataArg('ood', 'fashion-mnist@train', 'test'),
      parseDataArg('ood', 'fashion-mnist@train', 'test'),
    ];
    uniqueNames(refs);
    expect(refs.map((r) => r.name)).toEqual([
      'fashion-mnist',
      'fashion-mnist@train',
      'fashion-mnist-2',
    ]);
  });
});
