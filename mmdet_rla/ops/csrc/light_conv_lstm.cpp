// One ConvLSTM step with RegNet's composed light convolution, fused into one pass over memory (CPU).
//
// For hidden channel n and gate g (input, forget, cell, output) the pre-activation is two depthwise 3x3
// convolutions, zero-padded, plus a bias (mmdet_rla.models.layers.LightRecurrentConv, fuse_steps=True):
//
//   P_g[n] = Kx_g[n] * x[n] + Kh_g[n] * h[n] + b_g[n]
//   I, F, O = sigmoid(P_i, P_f, P_o),  G = tanh(P_c)
//   C' = F C + I G   (no forget term without a previous cell state),   H' = O tanh(C')
//
// Eager PyTorch runs this as eight depthwise convolutions and about twenty elementwise passes, each reading and
// writing whole maps; here each pixel's 4 x 18 taps and its gates are computed while its neighbourhood is in cache.
// The backward pass recomputes the gates from x, h and c (nothing else is saved) and writes the four gates'
// gradients once, which the transposed convolutions and the taps' gradients then read.
//
// Layout: maps (B, N, H, W) channels-last, i.e. (B, H, W, N) in memory; taps (9, 4, N) for x and for h (tap
// dy * 3 + dx, gate, channel); bias (4, N). Channels are processed in blocks of one SIMD register (GCC/Clang
// vector extensions: the compiler maps them to the instruction set it was asked for); tanh is 2 sigmoid(2x) - 1
// as in mmdet_rla.models.layers.tanh. float32 uses a vectorised exp (Cephes' expf: range reduction by ln 2 and a
// degree-6 polynomial, within 2 ulp of the library's), float64 the library's exp.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace {

template <typename T> struct Lanes;
template <> struct Lanes<float> {
  static constexpr int L = 16;
  typedef float V __attribute__((vector_size(64)));
  typedef int32_t I __attribute__((vector_size(64)));
};
template <> struct Lanes<double> {
  static constexpr int L = 8;
  typedef double V __attribute__((vector_size(64)));
};

template <typename V> inline V load(const void* p) { V v; std::memcpy(&v, p, sizeof(V)); return v; }
template <typename V> inline void store(void* p, V v) { std::memcpy(p, &v, sizeof(V)); }

inline Lanes<float>::V vexp(Lanes<float>::V x) {
  using V = Lanes<float>::V;
#if defined(__AVX512F__)
  // scalef multiplies by 2^n with IEEE overflow (inf) and underflow (0), so the clamp only keeps n finite; min(c, x)
  // and max(c, x) keep a NaN x. Five fewer operations per exp than the exponent-bits form below, and the same values
  // wherever exp(x) is a normal float; beyond, this gives inf and denormals / 0 where that form clamps.
  x = (V)_mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_min_ps(_mm512_set1_ps(88.8f), (__m512)x));
#else
  x = x < -87.3f ? V{} - 87.3f : x;  // exp underflows to 0 / 2^-126 scale below, overflows above
  x = x > 88.3f ? V{} + 88.3f : x;
#endif
  const V n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round(x / ln 2)
  const V r = x - n * 0.693359375f + n * 2.12194440e-4f;               // x - n ln 2, ln 2 in two parts
  V p = V{} + 1.9875691500E-4f;
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  p = p * r * r + r + 1.0f;
#if defined(__AVX512F__)
  return (V)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
  using I = Lanes<float>::I;
  const I exponent = (__builtin_convertvector(n, I) + 127) << 23;  // 2^n as float bits
  return p * (V)exponent;
#endif
}

inline Lanes<double>::V vexp(Lanes<double>::V x) {
  for (int k = 0; k < Lanes<double>::L; ++k) x[k] = std::exp(x[k]);
  return x;
}

template <typename V> inline V vsigmoid(V a) { return 1 / (1 + vexp(-a)); }
template <typename V> inline V vtanh(V a) { return 2 * vsigmoid(2 * a) - 1; }

// `count` channels from `n` on (count < L only in the last block when N is not a multiple of L).
template <typename T> struct Block {
  using V = typename Lanes<T>::V;
  static constexpr int L = Lanes<T>::L;
  int64_t n, count;
  V get(const T* base) const {
    if (count == L) return load<V>(base + n);
    V v{};
    for (int64_t k = 0; k < count; ++k) v[k] = base[n + k];
    return v;
  }
  void put(T* base, V v) const {
    if (count == L) return store(base + n, v);
    for (int64_t k = 0; k < count; ++k) base[n + k] = v[k];
  }
  void add(T* base, V v) const { put(base, get(base) + v); }
};

struct Shape {
  int64_t B, N, H, W;
  int64_t pixel(int64_t b, int64_t i, int64_t w) const { return ((b * H + i) * W + w) * N; }  // its first channel
};

// Pixels handled together where their 3x3 neighbourhoods lie inside the image's columns: the taps' weights are
// loaded once for all of them.
constexpr int kRun = 4;
// How far ahead, in pixels, the maps are prefetched. Each row of x and h (and, in the backward pass, of dP) is first
// read as the bottom row of the next row's taps, and c, h' and c' along this row; left to the hardware's
// prefetchers, those loads waited: with these prefetches one stage-1 step's forward took 12-16 % less time. A
// prefetch never faults, past a row's or a map's end too.
constexpr int kAhead = 8;

inline bool interior_run(const Shape& s, int64_t w, bool full_blocks) { return full_blocks && w >= 1 && w + kRun < s.W; }

// P_g at pixel (b, i, w) for one channel block, any position (zero padding by skipping the taps outside).
template <typename T>
void pre_activations(const Shape& s, const Block<T>& blk, const T* x, const T* h, const T* taps_x, const T* taps_h,
                     const T* bias, int64_t b, int64_t i, int64_t w, typename Lanes<T>::V a[4]) {
  const int64_t N = s.N;
  for (int g = 0; g < 4; ++g) a[g] = blk.get(bias + g * N);
  for (int dy = 0; dy < 3; ++dy) {
    const int64_t ii = i + dy - 1;
    if (ii < 0 || ii >= s.H) continue;
    for (int dx = 0; dx < 3; ++dx) {
      const int64_t ww = w + dx - 1;
      if (ww < 0 || ww >= s.W) continue;
      const int64_t q = s.pixel(b, ii, ww);
      const auto xv = blk.get(x + q), hv = blk.get(h + q);
      const int t = dy * 3 + dx;
      for (int g = 0; g < 4; ++g) a[g] += blk.get(taps_x + (t * 4 + g) * N) * xv + blk.get(taps_h + (t * 4 + g) * N) * hv;
    }
  }
}

// The four gates' weights of tap t for the full channel block at n: wx[g] on x, wh[g] on h.
template <typename T>
inline void load_tap(const T* taps_x, const T* taps_h, int t, int64_t N, int64_t n, typename Lanes<T>::V wx[4],
                     typename Lanes<T>::V wh[4]) {
  using V = typename Lanes<T>::V;
  for (int g = 0; g < 4; ++g) {
    wx[g] = load<V>(taps_x + (t * 4 + g) * N + n);
    wh[g] = load<V>(taps_h + (t * 4 + g) * N + n);
  }
}

// P_g at the kRun pixels (b, i, w + k) of an interior run, for the full channel block at n.
template <typename T>
void pre_activations_run(const Shape& s, int64_t n, const T* x, const T* h, const T* taps_x, const T* taps_h,
                         const T* bias, int64_t b, int64_t i, int64_t w, typename Lanes<T>::V a[kRun][4]) {
  using V = typename Lanes<T>::V;
  const int64_t N = s.N;
  for (int g = 0; g < 4; ++g) {
    const V bg = load<V>(bias + g * N + n);
    for (int k = 0; k < kRun; ++k) a[k][g] = bg;
  }
  if (i + 1 < s.H) {  // the bottom row's pixels that the runs after this one read first
    const int64_t q = s.pixel(b, i + 1, w + 1 + kAhead) + n;
    for (int k = 0; k < kRun; ++k) {
      __builtin_prefetch(x + q + k * N);
      __builtin_prefetch(h + q + k * N);
    }
  }
  for (int dy = 0; dy < 3; ++dy) {
    const int64_t ii = i + dy - 1;
    if (ii < 0 || ii >= s.H) continue;
    for (int dx = 0; dx < 3; ++dx) {
      V wx[4], wh[4];
      load_tap<T>(taps_x, taps_h, dy * 3 + dx, N, n, wx, wh);
      const int64_t q = s.pixel(b, ii, w + dx - 1) + n;
      for (int k = 0; k < kRun; ++k) {
        const V xv = load<V>(x + q + k * N), hv = load<V>(h + q + k * N);
        for (int g = 0; g < 4; ++g) a[k][g] += wx[g] * xv + wh[g] * hv;
      }
    }
  }
}

// Calls visit(block, p, a) with the pre-activations a[4] of every channel block of every pixel p of row (b, i).
template <typename T, typename Visit>
void for_each_pre_activation(const Shape& s, const T* x, const T* h, const T* taps_x, const T* taps_h, const T* bias,
                             int64_t b, int64_t i, Visit&& visit) {
  using V = typename Lanes<T>::V;
  constexpr int L = Lanes<T>::L;
  const bool full_blocks = s.N % L == 0;
  for (int64_t w = 0; w < s.W;) {
    if (interior_run(s, w, full_blocks)) {
      for (int64_t n = 0; n < s.N; n += L) {
        V a[kRun][4];
        pre_activations_run<T>(s, n, x, h, taps_x, taps_h, bias, b, i, w, a);
        for (int k = 0; k < kRun; ++k) visit(Block<T>{n, L}, s.pixel(b, i, w + k), a[k]);
      }
      w += kRun;
      continue;
    }
    for (int64_t n = 0; n < s.N; n += L) {
      const Block<T> blk{n, std::min<int64_t>(L, s.N - n)};
      V a[4];
      pre_activations<T>(s, blk, x, h, taps_x, taps_h, bias, b, i, w, a);
      visit(blk, s.pixel(b, i, w), a);
    }
    ++w;
  }
}

template <typename T>
void forward_kernel(const Shape s, const T* x, const T* h, const T* c, const T* taps_x, const T* taps_h,
                    const T* bias, T* h_out, T* c_out) {
  using V = typename Lanes<T>::V;
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      for_each_pre_activation<T>(s, x, h, taps_x, taps_h, bias, row / s.H, row % s.H,
                                 [&](const Block<T>& blk, int64_t p, const V* a) {
        const int64_t ahead = p + blk.n + kAhead * s.N;
        if (c) __builtin_prefetch(c + ahead);
        __builtin_prefetch(c_out + ahead, 1);
        __builtin_prefetch(h_out + ahead, 1);
        V new_c = vsigmoid(a[0]) * vtanh(a[2]);
        if (c) new_c += vsigmoid(a[1]) * blk.get(c + p);
        blk.put(c_out + p, new_c);
        blk.put(h_out + p, vsigmoid(a[3]) * vtanh(new_c));
      });
    }
  });
}

// The taps' and bias' gradients of gate g from the interior columns of row (b, i), for the full channel block at n:
// sx[t] += sum_w dP_g(w) x(w + tap t), sh[t] likewise on h, sb += sum_w dP_g(w). The taps' rows inside the image
// are [DY0, DY1) and known at compile time, so that the 18 partial sums stay in registers (with runtime bounds the
// compiler kept them on the stack, loading and storing each at every pixel).
template <typename T, int DY0, int DY1>
void tap_gradients_interior(const Shape& s, int64_t b, int64_t i, int64_t n, int g, const T* grad_pre, const T* x,
                            const T* h, typename Lanes<T>::V sx[9], typename Lanes<T>::V sh[9],
                            typename Lanes<T>::V& sb) {
  using V = typename Lanes<T>::V;
  const int64_t N = s.N;
  V ax[9] = {}, ah[9] = {}, ab{};
  for (int64_t w = 1; w < s.W - 1; ++w) {
    const V d = load<V>(grad_pre + s.pixel(b, i, w) * 4 + g * N + n);
    ab += d;
    for (int dy = DY0; dy < DY1; ++dy) {
      const int64_t q = s.pixel(b, i + dy - 1, w - 1) + n;
      for (int dx = 0; dx < 3; ++dx) {
        ax[dy * 3 + dx] += d * load<V>(x + q + dx * N);
        ah[dy * 3 + dx] += d * load<V>(h + q + dx * N);
      }
    }
  }
  for (int t = 0; t < 9; ++t) {
    sx[t] += ax[t];
    sh[t] += ah[t];
  }
  sb += ab;
}

// grad_params: per thread, (2 * 9 + 1, 4, N): the x taps', the h taps' and the bias' gradients.
template <typename T>
void backward_kernel(const Shape s, const T* grad_h, const T* grad_c, const T* x, const T* h, const T* c,
                     const T* taps_x, const T* taps_h, const T* bias, T* grad_pre, T* grad_c_prev, T* grad_params,
                     T* grad_x, T* grad_h_prev) {
  using V = typename Lanes<T>::V;
  constexpr int L = Lanes<T>::L;
  const int64_t N = s.N;
  const bool full_blocks = N % L == 0;
  // Pass 1, per row: the pre-activations' gradients dP (B, H, W, 4, N) and the previous cell state's, then this
  // row's share of the taps' and bias' gradients, sum_p dP_g(p) x(p + tap), kept in registers along the row.
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
    T* totals = grad_params + at::get_thread_num() * 19 * 4 * N;
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.H, i = row % s.H;
      for_each_pre_activation<T>(s, x, h, taps_x, taps_h, bias, b, i, [&](const Block<T>& blk, int64_t p, const V* a) {
        const V in = vsigmoid(a[0]), cell = vtanh(a[2]), out = vsigmoid(a[3]);
        const V forget = c ? vsigmoid(a[1]) : V{};
        const V old_c = c ? blk.get(c + p) : V{};
        const V tanh_c = vtanh(in * cell + forget * old_c);
        const V gh = grad_h ? blk.get(grad_h + p) : V{};
        const V dc = (grad_c ? blk.get(grad_c + p) : V{}) + gh * out * (1 - tanh_c * tanh_c);  // dL/dC'
        T* dp = grad_pre + p * 4;
        blk.put(dp, dc * cell * in * (1 - in));
        blk.put(dp + N, dc * old_c * forget * (1 - forget));
        blk.put(dp + 2 * N, dc * in * (1 - cell * cell));
        blk.put(dp + 3 * N, gh * tanh_c * out * (1 - out));
        if (c) blk.put(grad_c_prev + p, dc * forget);
      });
      const int dy0 = i == 0 ? 1 : 0, dy1 = i == s.H - 1 ? 2 : 3;  // the taps' rows inside the image
      for (int64_t n = 0; n < N; n += L) {
        const Block<T> blk{n, std::min<int64_t>(L, N - n)};
        for (int g = 0; g < 4; ++g) {
          V sx[9] = {}, sh[9] = {}, sb{};
          auto accumulate = [&](int64_t w, int dx0, int dx1) {
            const V d = blk.get(grad_pre + s.pixel(b, i, w) * 4 + g * N);
            sb += d;
            for (int dy = dy0; dy < dy1; ++dy)
              for (int dx = dx0; dx < dx1; ++dx) {
                const int64_t q = s.pixel(b, i + dy - 1, w + dx - 1);
                sx[dy * 3 + dx] += d * blk.get(x + q);
                sh[dy * 3 + dx] += d * blk.get(h + q);
              }
          };
          if (s.W == 1) {
            accumulate(0, 1, 2);
          } else {
            accumulate(0, 1, 3);
            if (blk.count < L) {
              for (int64_t w = 1; w < s.W - 1; ++w) accumulate(w, 0, 3);
            } else if (dy0 == 0 && dy1 == 3) {
              tap_gradients_interior<T, 0, 3>(s, b, i, n, g, grad_pre, x, h, sx, sh, sb);
            } else if (dy0 == 1 && dy1 == 3) {
              tap_gradients_interior<T, 1, 3>(s, b, i, n, g, grad_pre, x, h, sx, sh, sb);
            } else if (dy0 == 0) {
              tap_gradients_interior<T, 0, 2>(s, b, i, n, g, grad_pre, x, h, sx, sh, sb);
            } else {
              tap_gradients_interior<T, 1, 2>(s, b, i, n, g, grad_pre, x, h, sx, sh, sb);
            }
            accumulate(s.W - 1, 0, 2);
          }
          for (int t = 0; t < 9; ++t) {
            blk.add(totals + (t * 4 + g) * N, sx[t]);
            blk.add(totals + ((9 + t) * 4 + g) * N, sh[t]);
          }
          blk.add(totals + (18 * 4 + g) * N, sb);
        }
      }
    }
  });
  // Pass 2: dL/dx and dL/dh, the transposed depthwise convolutions of dP: x(i, w) feeds P(i - dy + 1, w - dx + 1)
  // through tap (dy, dx).
  at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t b = row / s.H, i = row % s.H;
      for (int64_t w = 0; w < s.W;) {
        if (interior_run(s, w, full_blocks)) {
          for (int64_t n = 0; n < N; n += L) {
            if (i + 1 < s.H) {  // the bottom row's dP that the runs after this one read first
              const T* ahead = grad_pre + s.pixel(b, i + 1, w + 1 + kAhead) * 4 + n;
              for (int k = 0; k < 4 * kRun; ++k) __builtin_prefetch(ahead + k * N);
            }
            V gx[kRun] = {}, gh[kRun] = {};
            for (int dy = 0; dy < 3; ++dy) {
              const int64_t ii = i - dy + 1;
              if (ii < 0 || ii >= s.H) continue;
              for (int dx = 0; dx < 3; ++dx) {
                V wx[4], wh[4];
                load_tap<T>(taps_x, taps_h, dy * 3 + dx, N, n, wx, wh);
                const T* dp = grad_pre + s.pixel(b, ii, w - dx + 1) * 4 + n;
                for (int k = 0; k < kRun; ++k)
                  for (int g = 0; g < 4; ++g) {
                    const V d = load<V>(dp + (4 * k + g) * N);
                    gx[k] += wx[g] * d;
                    gh[k] += wh[g] * d;
                  }
              }
            }
            for (int k = 0; k < kRun; ++k) {
              store(grad_x + s.pixel(b, i, w + k) + n, gx[k]);
              store(grad_h_prev + s.pixel(b, i, w + k) + n, gh[k]);
            }
          }
          w += kRun;
          continue;
        }
        for (int64_t n = 0; n < N; n += L) {
          const Block<T> blk{n, std::min<int64_t>(L, N - n)};
          V gx{}, gh{};
          for (int dy = 0; dy < 3; ++dy) {
            const int64_t ii = i - dy + 1;
            if (ii < 0 || ii >= s.H) continue;
            for (int dx = 0; dx < 3; ++dx) {
              const int64_t ww = w - dx + 1;
              if (ww < 0 || ww >= s.W) continue;
              const T* dp = grad_pre + s.pixel(b, ii, ww) * 4;
              const int t = dy * 3 + dx;
              for (int g = 0; g < 4; ++g) {
                const V d = blk.get(dp + g * N);
                gx += blk.get(taps_x + (t * 4 + g) * N) * d;
                gh += blk.get(taps_h + (t * 4 + g) * N) * d;
              }
            }
          }
          blk.put(grad_x + s.pixel(b, i, w), gx);
          blk.put(grad_h_prev + s.pixel(b, i, w), gh);
        }
        ++w;
      }
    }
  });
}

constexpr auto kChannelsLast = at::MemoryFormat::ChannelsLast;

template <typename T> T* data(const at::Tensor& t) { return t.defined() ? t.data_ptr<T>() : nullptr; }

at::Tensor channels_last(const at::Tensor& t) { return t.defined() ? t.contiguous(kChannelsLast) : t; }
at::Tensor channels_last(const std::optional<at::Tensor>& t) {
  return t.has_value() ? channels_last(*t) : at::Tensor();
}

void check_arguments(const at::Tensor& x, const at::Tensor& h, const at::Tensor& c, const at::Tensor& taps_x,
                     const at::Tensor& taps_h, const at::Tensor& bias) {
  TORCH_CHECK(x.device().is_cpu(), "light_conv_lstm: x must be a CPU tensor, got ", x.device());
  TORCH_CHECK(x.dim() == 4, "light_conv_lstm: x must be (B, N, H, W), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble,
              "light_conv_lstm: x must be float32 or float64, got ", x.scalar_type());
  const int64_t N = x.size(1);
  for (const auto* t : {&h, &c}) {
    if (!t->defined()) continue;
    TORCH_CHECK(t->sizes() == x.sizes() && t->scalar_type() == x.scalar_type() && t->device() == x.device(),
                "light_conv_lstm: h and c must be like x ", x.sizes(), ", got ", t->sizes(), " ", t->scalar_type());
  }
  for (const auto* t : {&taps_x, &taps_h})
    TORCH_CHECK(t->sizes() == at::IntArrayRef({9, 4, N}) && t->scalar_type() == x.scalar_type(),
                "light_conv_lstm: the taps must be (9, 4, ", N, ") in x's dtype, got ", t->sizes());
  TORCH_CHECK(bias.sizes() == at::IntArrayRef({4, N}) && bias.scalar_type() == x.scalar_type(),
              "light_conv_lstm: bias must be (4, ", N, ") in x's dtype, got ", bias.sizes());
}

// Returns (h', c'), channels-last.
std::vector<at::Tensor> light_conv_lstm_forward(const at::Tensor& x, const at::Tensor& h,
                                                const std::optional<at::Tensor>& c, const at::Tensor& taps_x,
                                                const at::Tensor& taps_h, const at::Tensor& bias) {
  const auto xc = channels_last(x), hc = channels_last(h), cc = channels_last(c);
  const auto tx = taps_x.contiguous(), th = taps_h.contiguous(), bc = bias.contiguous();
  check_arguments(xc, hc, cc, tx, th, bc);
  auto h_out = at::empty_like(xc, kChannelsLast), c_out = at::empty_like(xc, kChannelsLast);
  const Shape s{x.size(0), x.size(1), x.size(2), x.size(3)};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "light_conv_lstm_forward", [&] {
    forward_kernel<scalar_t>(s, data<scalar_t>(xc), data<scalar_t>(hc), data<scalar_t>(cc), data<scalar_t>(tx),
                             data<scalar_t>(th), data<scalar_t>(bc), data<scalar_t>(h_out), data<scalar_t>(c_out));
  });
  return {h_out, c_out};
}

// Returns (dL/dx, dL/dh, dL/dc (an empty tensor without c), dL/dtaps_x, dL/dtaps_h, dL/dbias); missing output
// gradients count as zeros.
std::vector<at::Tensor> light_conv_lstm_backward(const std::optional<at::Tensor>& grad_h,
                                                 const std::optional<at::Tensor>& grad_c, const at::Tensor& x,
                                                 const at::Tensor& h, const std::optional<at::Tensor>& c,
                                                 const at::Tensor& taps_x, const at::Tensor& taps_h,
                                                 const at::Tensor& bias) {
  const auto xc = channels_last(x), hc = channels_last(h), cc = channels_last(c);
  const auto ghc = channels_last(grad_h), gcc = channels_last(grad_c);
  const auto tx = taps_x.contiguous(), th = taps_h.contiguous(), bc = bias.contiguous();
  check_arguments(xc, hc, cc, tx, th, bc);
  check_arguments(xc, ghc, gcc, tx, th, bc);
  const Shape s{x.size(0), x.size(1), x.size(2), x.size(3)};
  auto grad_pre = at::empty({s.B, s.H, s.W, 4, s.N}, x.options());
  auto grad_c_prev = cc.defined() ? at::empty_like(xc, kChannelsLast) : at::empty({0}, x.options());
  auto grad_params = at::zeros({at::get_num_threads(), 19, 4, s.N}, x.options());
  auto grad_x = at::empty_like(xc, kChannelsLast), grad_h_prev = at::empty_like(xc, kChannelsLast);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "light_conv_lstm_backward", [&] {
    backward_kernel<scalar_t>(s, data<scalar_t>(ghc), data<scalar_t>(gcc), data<scalar_t>(xc), data<scalar_t>(hc),
                              data<scalar_t>(cc), data<scalar_t>(tx), data<scalar_t>(th), data<scalar_t>(bc),
                              data<scalar_t>(grad_pre), cc.defined() ? data<scalar_t>(grad_c_prev) : nullptr, data<scalar_t>(grad_params),
                              data<scalar_t>(grad_x), data<scalar_t>(grad_h_prev));
  });
  const auto totals = grad_params.sum(0);
  return {grad_x, grad_h_prev, grad_c_prev, totals.narrow(0, 0, 9), totals.narrow(0, 9, 9), totals.select(0, 18)};
}

}  // namespace

// Defined here, implemented for CPU tensors; mmdet_rla/ops/conv_lstm.py registers the autograd formula and the
// shapes (for torch.compile).
TORCH_LIBRARY(mmdet_rla, m) {
  m.def("light_conv_lstm_forward(Tensor x, Tensor h, Tensor? c, Tensor taps_x, Tensor taps_h, Tensor bias) -> Tensor[]");
  m.def("light_conv_lstm_backward(Tensor? grad_h, Tensor? grad_c, Tensor x, Tensor h, Tensor? c, Tensor taps_x, "
        "Tensor taps_h, Tensor bias) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(mmdet_rla, CPU, m) {
  m.impl("light_conv_lstm_forward", &light_conv_lstm_forward);
  m.impl("light_conv_lstm_backward", &light_conv_lstm_backward);
}
