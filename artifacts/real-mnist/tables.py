# Markdown tables of artifacts/real-mnist from the committed eval/*/metrics.json (run from that folder).
import json, os
def load(e):
    p = f'eval/{e}/metrics.json'
    return json.load(open(p)) if os.path.exists(p) else None
def a(m, score, s):
    return 100 * m['metrics'][score][s]['auroc']
def cell(m, score, s, ci=False):
    v = f"{a(m, score, s):.1f}"
    if ci:
        lo, hi = m['metrics'][score][s]['auroc_ci95']; v += f" ({100*lo:.1f}–{100*hi:.1f})"
    return v
main = [
  ('old (photos only)', 'plain', 'old-fashion', ['raw', 'final-scale', 'ratio']),
  ('old (photos only)', 'outlier loss', 'old-fashion-outlier', ['ratio']),
  ('**mixture 0.5** (the recipe)', 'plain', 'fashion-mix-small', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5', 'outlier loss', 'fashion-outlier-mix-small', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5, general model 4 epochs', 'plain', 'fashion-mix-small-g4', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5, general model 4 epochs', 'outlier loss', 'fashion-outlier-mix-small-g4', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5', 'outlier loss, λ 20000 (ablation point)', 'fashion-outlier20k-mix-small', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5, **medium** (K 16, hidden 128), general model 1 epoch', 'plain', 'fashion-mix-medium-g1', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5, **medium**, general model 2 epochs', 'plain', 'fashion-mix-medium-g2', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5, **medium**, general model 3 epochs', 'plain', 'fashion-mix-medium-g3', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5, **medium**, general model 1 epoch', 'outlier loss', 'fashion-outlier-mix-medium-g1', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5, **medium**, general model 3 epochs', 'outlier loss', 'fashion-outlier-mix-medium-g3', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5', 'supervised (class-conditional + outlier loss, 2 epochs)', 'supervised-mix-small', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5, **medium**, general model 3 epochs', 'supervised (class-conditional + outlier loss), after 3 epochs of a continuing run', 'supervised-mix-medium-g3-e3', ['raw', 'final-scale', 'ratio']),
  ('mixture 0.5', "plain + Ren et al.'s background model (μ 0.2)", 'fashion-mix-small-ren', ['background-ratio']),
]
print('| general set | fine-tune | score | MNIST (95 % interval) | photos | noise | constant |')
print('| :--- | :--- | :--- | ---: | ---: | ---: | ---: |')
names = {'raw': 'raw', 'final-scale': 'final scale', 'ratio': 'ratio', 'background-ratio': 'background ratio (Ren)'}
for g, f, e, scores in main:
    m = load(e)
    if not m: continue
    for s in scores:
        print(f"| {g} | {f} | {names[s]} | {cell(m, s, 'mnist', True)} | {cell(m, s, 'photos')} | {cell(m, s, 'noise')} | {cell(m, s, 'constant')} |")
print()
abl = [
  ('general set', 'photos only (old models; 20k crops, 8 epochs)', 'old-fashion'),
  ('general set', 'broad only', 'fashion-broad-small'),
  ('general set', '**mixture 0.5** (reference)', 'fashion-mix-small'),
  ('general set', 'domain-matched only', 'fashion-domain-small'),
  ('general model length', '2 epochs (1 + 1 continued)', 'fashion-mix-small-g2'),
  ('general model length', '3 epochs', 'fashion-mix-small-g3'),
  ('general model length', '4 epochs', 'fashion-mix-small-g4'),
  ('fine-tune length', '2 epochs', 'fashion-mix-small-e2'),
  ('fine-tune length, general model 4 epochs', '1 epoch (937 steps)', 'fashion-mix-small-g4'),
  ('fine-tune length, general model 4 epochs', '0.5 epoch (469 steps: one pass over a seeded random 30,000)', 'fashion-mix-small-g4-ft30000'),
  ('fine-tune length, general model 4 epochs', '0.25 epoch (235 steps: 15,000)', 'fashion-mix-small-g4-ft15000'),
  ('model size', 'medium (K 16, hidden 128; general 1 epoch, fine-tune 1 epoch)', 'fashion-mix-medium-g1'),
  ('model size, outlier loss λ 6000', 'medium (general 1 epoch, fine-tune 1 epoch)', 'fashion-outlier-mix-medium-g1'),
  ('general model length, medium', '2 epochs (1 + 1 continued; fine-tune 1 epoch)', 'fashion-mix-medium-g2'),
  ('general model length, medium', '3 epochs', 'fashion-mix-medium-g3'),
  ('outlier loss λ', '0 (plain, reference)', 'fashion-mix-small'),
  ('outlier loss λ', '6000 (reference)', 'fashion-outlier-mix-small'),
  ('outlier loss λ', '20000', 'fashion-outlier20k-mix-small'),
  ('outlier loss λ 6000', 'general model 2 epochs', 'fashion-outlier-mix-small-g2'),
  ('outlier loss λ 6000', 'general model 4 epochs', 'fashion-outlier-mix-small-g4'),
  ('outlier loss λ 6000, medium', 'general model 3 epochs', 'fashion-outlier-mix-medium-g3'),
  ('labels', 'supervised (λ 6000 outlier + wrong-class loss)', 'supervised-mix-small'),
  ('labels, medium', 'supervised, general model 3 epochs, fine-tune 2 epochs', 'supervised-mix-medium-g3-e2'),
  ('labels, medium', 'supervised, general model 3 epochs, fine-tune 3 epochs', 'supervised-mix-medium-g3-e3'),
]
print('| factor | value | ratio MNIST | final scale MNIST | raw MNIST | ratio photos / noise / constant | ratio per scale MNIST (0 / 1 / 2) |')
print('| :--- | :--- | ---: | ---: | ---: | :---: | :---: |')
for f, v, e in abl:
    m = load(e)
    if not m: continue
    ps = ' / '.join(cell(m, f'ratio-scale-{i}', 'mnist') for i in range(3)) if 'ratio-scale-0' in m['metrics'] else '-'
    print(f"| {f} | {v} | {cell(m, 'ratio', 'mnist')} | {cell(m, 'final-scale', 'mnist')} | {cell(m, 'raw', 'mnist')} | {cell(m, 'ratio', 'photos')} / {cell(m, 'ratio', 'noise')} / {cell(m, 'ratio', 'constant')} | {ps} |")

# Held-out classes (near-OOD): Fashion-MNIST without its footwear classes (5 sandal, 7 sneaker,
# 9 ankle boot) as the in-distribution, the footwear test images as one more OOD set.
m = load('fashion-nofootwear-mix-small-g4')
if m:
    print()
    print('| score | footwear (95 % interval) | MNIST | photos | noise | constant |')
    print('| :--- | ---: | ---: | ---: | ---: | ---: |')
    for sc in ['raw', 'final-scale', 'ratio']:
        print(f"| {names[sc]} | {cell(m, sc, 'footwear', True)} | {cell(m, sc, 'mnist')} | {cell(m, sc, 'photos')} | {cell(m, sc, 'noise')} | {cell(m, sc, 'constant')} |")

# The medium supervised run, its weights after each epoch evaluated on the whole sets.
rows = [(e, load(f'supervised-mix-medium-g3-e{e}')) for e in range(1, 31)]
rows = [(e, m) for e, m in rows if m]
if rows:
    print()
    print('| after epoch | test accuracy (10,000) | ratio, digits (95 % interval) | final scale, digits | raw, digits | ratio photos / noise / constants | Fashion-MNIST test bits/dim |')
    print('| ---: | ---: | ---: | ---: | ---: | :---: | ---: |')
    f2 = lambda x: f"{100 * x:.2f}"
    for e, m in rows:
        mm = m['metrics']; lo, hi = mm['ratio']['mnist']['auroc_ci95']
        others = ' / '.join(f2(mm['ratio'][s]['auroc']) for s in ['photos', 'noise', 'constant'])
        print(f"| {e} | {f2(m['classification']['accuracy'])} % | {f2(mm['ratio']['mnist']['auroc'])} % ({f2(lo)}–{f2(hi)}) | {f2(mm['final-scale']['mnist']['auroc'])} % | {f2(mm['raw']['mnist']['auroc'])} % | {others} % | {m['inDistribution']['meanBpd']:.2f} |")
