package scheduler

// minHeap is a binary heap whose top is the least element by less. It is
// the one heap of the scheduler: each group's steps, and the order of the
// groups in a pass. An element that must be taken out from the middle (a
// step whose order keys change) is told its index through setIndex, and
// -1 when it leaves; setIndex is nil where nobody needs the index.
// container/heap would box every element in an interface and call less
// through one; this keeps the types.
type minHeap[T any] struct {
	items    []T
	less     func(a, b T) bool
	setIndex func(x T, i int)
}

// Len returns the number of elements.
func (h *minHeap[T]) Len() int { return len(h.items) }

// Top returns the least element; the heap must not be empty.
func (h *minHeap[T]) Top() T { return h.items[0] }

// Push adds x.
func (h *minHeap[T]) Push(x T) {
	h.items = append(h.items, x)
	i := len(h.items) - 1
	h.moved(i)
	h.up(i)
}

// Remove takes out the element at i and returns it.
func (h *minHeap[T]) Remove(i int) T {
	n := len(h.items) - 1
	x := h.items[i]
	if i != n {
		h.items[i] = h.items[n]
		h.moved(i)
	}
	var zero T
	h.items[n] = zero
	h.items = h.items[:n]
	if i < n {
		h.down(i)
		h.up(i)
	}
	if h.setIndex != nil {
		h.setIndex(x, -1)
	}
	return x
}

// Fix restores the order after the key of the element at i changed.
func (h *minHeap[T]) Fix(i int) {
	h.down(i)
	h.up(i)
}

// Init restores the order after keys changed in bulk, or after elements
// were appended to items directly.
func (h *minHeap[T]) Init() {
	for i := range h.items {
		h.moved(i)
	}
	for i := len(h.items)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

// Clear empties the heap, keeping its storage.
func (h *minHeap[T]) Clear() {
	clear(h.items)
	h.items = h.items[:0]
}

func (h *minHeap[T]) moved(i int) {
	if h.setIndex != nil {
		h.setIndex(h.items[i], i)
	}
}

func (h *minHeap[T]) swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.moved(i)
	h.moved(j)
}

func (h *minHeap[T]) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(h.items[i], h.items[p]) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *minHeap[T]) down(i int) {
	n := len(h.items)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h.less(h.items[r], h.items[l]) {
			j = r
		}
		if !h.less(h.items[j], h.items[i]) {
			return
		}
		h.swap(i, j)
		i = j
	}
}
