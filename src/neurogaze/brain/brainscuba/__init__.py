"""BrainSCUBA (Luo, Henderson, Tarr & Wehbe, ICLR 2024): natural-language captions of each voxel's
selectivity, and images from those captions.

``projection``: each voxel's encoder weight projected onto a pool of natural-image CLIP
embeddings (a temperature-150 softmax streamed over ``.npy`` shards); ``captions``: the projected
embeddings captioned by ClipCap, nouns per ROI, the share of person captions; ``stages``: the
rules' functions.
"""
