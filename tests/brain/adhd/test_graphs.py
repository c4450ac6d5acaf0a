"""The sparse correlation graph and the triangle kernel, checked against networkx and numpy."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from neurogaze.brain.adhd import graphs
from neurogaze.errors import DataValidationError


def _adjacency(graph: nx.Graph) -> sp.csr_matrix:
    return sp.csr_matrix(nx.to_scipy_sparse_array(graph, nodelist=range(graph.number_of_nodes()), format="csr"))


def _reference_triangles(graph: nx.Graph) -> np.ndarray:
    counts = nx.triangles(graph)
    return np.array([counts[i] for i in range(graph.number_of_nodes())])


RANDOM_GRAPHS = [(n, p, seed) for n, p in [(30, 0.05), (60, 0.2), (120, 0.5), (300, 0.02), (200, 0.9)]
                 for seed in (0, 1)]


@pytest.mark.parametrize("n,p,seed", RANDOM_GRAPHS)
def test_triangles_match_networkx_on_random_graphs(n, p, seed):
    graph = nx.gnp_random_graph(n, p, seed=seed)
    counts = graphs.triangle_counts(_adjacency(graph))
    np.testing.assert_array_equal(counts, _reference_triangles(graph))


def test_triangles_and_clustering_on_cliques_and_isolated_nodes():
    graph = nx.disjoint_union_all([nx.complete_graph(7), nx.empty_graph(5), nx.complete_graph(3), nx.path_graph(4)])
    graph.add_edge(0, 7 + 5)  # a bridge from the 7-clique to the triangle
    adjacency = _adjacency(graph)
    counts = graphs.triangle_counts(adjacency)
    np.testing.assert_array_equal(counts, _reference_triangles(graph))
    assert counts[1] == 15  # C(6, 2) triangles through a node of K7
    assert counts[7:12].sum() == 0  # isolated nodes
    clustering = graphs.clustering_coefficient(adjacency)
    reference = nx.clustering(graph)
    np.testing.assert_allclose(clustering, [reference[i] for i in range(graph.number_of_nodes())])


def test_clustering_matches_networkx_on_a_powerlaw_graph():
    graph = nx.powerlaw_cluster_graph(400, 5, 0.6, seed=3)  # skewed degrees stress the ordering
    adjacency = _adjacency(graph)
    features = graphs.node_features(adjacency)
    np.testing.assert_array_equal(features["triangles"], _reference_triangles(graph))
    reference = nx.clustering(graph)
    np.testing.assert_allclose(features["clustering"], [reference[i] for i in range(400)])
    np.testing.assert_array_equal(features["degree"], [d for _, d in sorted(graph.degree())])


def test_empty_and_edgeless_graphs():
    assert graphs.triangle_counts(sp.csr_matrix((0, 0))).shape == (0,)
    np.testing.assert_array_equal(graphs.triangle_counts(sp.csr_matrix((4, 4))), np.zeros(4))
    np.testing.assert_array_equal(graphs.clustering_coefficient(sp.csr_matrix((4, 4))), np.zeros(4))


def test_asymmetric_or_looped_adjacency_is_rejected():
    with pytest.raises(DataValidationError, match="symmetric"):
        graphs.triangle_counts(sp.csr_matrix(np.array([[0, 1], [0, 0]])))
    with pytest.raises(DataValidationError, match="self-loops"):
        graphs.triangle_counts(sp.csr_matrix(np.array([[1, 1], [1, 0]])))
    with pytest.raises(DataValidationError, match="square"):
        graphs.triangle_counts(np.eye(3))


def _series(n_timepoints=60, n_voxels=150, seed=0):
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n_timepoints, 4))
    series = rng.standard_normal((n_timepoints, n_voxels)) + shared @ rng.standard_normal((4, n_voxels))
    return series.astype(np.float32)


def _dense_edges(series, absolute_value):
    r = np.corrcoef(series.T.astype(np.float64))
    strength = np.abs(r) if absolute_value else r
    upper = np.triu_indices(series.shape[1], k=1)
    return strength, upper


@pytest.mark.parametrize("absolute_value", [True, False])
@pytest.mark.parametrize("block_size", [7, 64, 1000])
def test_absolute_threshold_matches_the_dense_matrix(absolute_value, block_size):
    series = _series()
    config = graphs.GraphConfig(mode="absolute", threshold=0.4, absolute_value=absolute_value, block_size=block_size)
    adjacency = graphs.correlation_graph(series, config)
    strength, _ = _dense_edges(series, absolute_value)
    expected = strength >= 0.4
    np.fill_diagonal(expected, False)
    # float32 blocks against float64 reference: pairs within 1e-5 of the threshold may differ.
    near = np.abs(strength - 0.4) < 1e-5
    assert ((adjacency.toarray() > 0) != expected)[~near].sum() == 0
    assert (adjacency != adjacency.T).nnz == 0 and adjacency.diagonal().sum() == 0


@pytest.mark.parametrize("absolute_value", [True, False])
@pytest.mark.parametrize("density", [0.01, 0.1, 0.37])
def test_density_threshold_keeps_the_strongest_pairs(absolute_value, density):
    series = _series(seed=2)
    config = graphs.GraphConfig(mode="density", density=density, absolute_value=absolute_value, block_size=32)
    adjacency = graphs.correlation_graph(series, config)
    n = series.shape[1]
    assert adjacency.nnz // 2 == graphs.expected_edges(n, density)
    strength, upper = _dense_edges(series, absolute_value)
    values = strength[upper]
    kept = adjacency.toarray()[upper] > 0
    assert values[kept].min() >= values[~kept].max() - 1e-6


def test_standardize_gives_correlations_and_silences_constant_voxels():
    series = _series(n_voxels=20)
    series[:, 3] = 5.0
    z = graphs.standardize(series)
    r = z.T @ z
    expected = np.corrcoef(np.delete(series, 3, axis=1).T)
    np.testing.assert_allclose(np.delete(np.delete(r, 3, 0), 3, 1), expected, atol=1e-5)
    assert np.all(z[:, 3] == 0)


@pytest.mark.parametrize(
    "bad,field",
    [(np.zeros((2, 5)), "timeseries"), (np.zeros(5), "timeseries"), (np.full((10, 5), np.nan), "timeseries")],
)
def test_bad_timeseries_is_rejected(bad, field):
    with pytest.raises(DataValidationError, match=field):
        graphs.correlation_graph(bad)


def test_bad_graph_config_is_rejected():
    with pytest.raises(ValueError, match="mode"):
        graphs.GraphConfig(mode="sparse")
    with pytest.raises(ValueError, match="density"):
        graphs.GraphConfig(mode="density", density=0.0)
    with pytest.raises(ValueError, match="threshold"):
        graphs.GraphConfig(mode="absolute", threshold=0.0)
    with pytest.raises(ValueError, match="feature"):
        graphs.node_features(sp.csr_matrix((3, 3)), ("betweenness",))


def test_correlation_graph_triangles_match_networkx():
    series = _series(n_voxels=300, seed=4)
    adjacency = graphs.correlation_graph(series, graphs.GraphConfig(mode="density", density=0.08, block_size=50))
    graph = nx.from_scipy_sparse_array(adjacency)
    np.testing.assert_array_equal(graphs.triangle_counts(adjacency), _reference_triangles(graph))


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")
def test_explicit_zeros_duplicates_and_weights_are_handled_without_touching_the_input():
    graph = nx.gnp_random_graph(40, 0.3, seed=5)
    adjacency = _adjacency(graph).astype(float)
    adjacency.data[:] = np.random.default_rng(0).uniform(0.1, 1.0, adjacency.nnz)  # weights ignored
    adjacency = (adjacency + adjacency.T) / 2
    i, j = 0, 39
    if graph.has_edge(i, j):
        graph.remove_edge(i, j)
    stored_zero = sp.csr_matrix(adjacency)
    stored_zero[i, j] = 0.0
    stored_zero[j, i] = 0.0  # an explicitly stored zero is not an edge
    before = stored_zero.copy()
    np.testing.assert_array_equal(graphs.triangle_counts(stored_zero), _reference_triangles(graph))
    assert stored_zero.nnz == before.nnz and np.array_equal(stored_zero.indices, before.indices)


@pytest.mark.parametrize("mode", ["density", "absolute"])
def test_graph_build_is_one_pass_over_the_correlation_blocks(monkeypatch, mode):
    """The GEMM is the build's floor: each block of the correlation is computed once, in the
    density mode too (it keeps the strongest pairs seen so far instead of a histogram pass)."""
    series = _series(seed=4)
    config = graphs.GraphConfig(mode=mode, density=0.05, threshold=0.3, block_size=16)
    expected = graphs.correlation_graph(series, config)
    passes = []
    blocks = graphs.iter_correlation_blocks

    def counted(z, block_size):
        passes.append(block_size)
        yield from blocks(z, block_size)

    monkeypatch.setattr(graphs, "iter_correlation_blocks", counted)
    assert (graphs.correlation_graph(series, config) != expected).nnz == 0
    assert len(passes) == 1
