package inference

import "sync"

// cacheGeneration bounds the prediction cache: at most two generations of
// this many texts (about 30 MB at tweet length) are kept per model.
const cacheGeneration = 100_000

// predictionCache remembers a model's predictions by text, so a text seen
// again (a retweet, a later batch of a stream, a rerun in the same worker
// process) costs a map lookup instead of an inference. When the newer
// generation fills, the older one is dropped: recently used texts survive,
// and memory stays bounded whatever the stream's length.
type predictionCache struct {
	mu       sync.Mutex
	cur, old map[string]Prediction
	gen      int // generation size; 0: cacheGeneration
}

func (c *predictionCache) get(text string) (Prediction, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.cur[text]; ok {
		return p, true
	}
	p, ok := c.old[text]
	if ok {
		c.putLocked(text, p)
	}
	return p, ok
}

func (c *predictionCache) put(text string, p Prediction) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(text, p)
}

func (c *predictionCache) putLocked(text string, p Prediction) {
	if c.cur == nil {
		c.cur = make(map[string]Prediction)
	}
	gen := c.gen
	if gen == 0 {
		gen = cacheGeneration
	}
	if len(c.cur) >= gen {
		c.old, c.cur = c.cur, make(map[string]Prediction)
	}
	c.cur[text] = p
}

// Cached returns the prediction for text if this model has made it before.
func (m *Model) Cached(text string) (Prediction, bool) { return m.cache.get(text) }

// PredictCached is Predict that infers only texts the model has not
// classified before (each distinct text once) and remembers the new ones.
// It also returns how many texts it inferred.
func (m *Model) PredictCached(texts []string) ([]Prediction, int, error) {
	out := make([]Prediction, len(texts))
	var todo []string
	where := map[string][]int{}
	for i, t := range texts {
		if p, ok := m.cache.get(t); ok {
			out[i] = p
			continue
		}
		if _, seen := where[t]; !seen {
			todo = append(todo, t)
		}
		where[t] = append(where[t], i)
	}
	if len(todo) == 0 {
		return out, 0, nil
	}
	preds, err := m.Predict(todo)
	if err != nil {
		return nil, 0, err
	}
	for k, t := range todo {
		m.cache.put(t, preds[k])
		for _, i := range where[t] {
			out[i] = preds[k]
		}
	}
	return out, len(todo), nil
}
