// Our own declaration of the parts of the TFLite C ABI that the kernels touch.
//
// Transcribed from the layout of tensorflow/lite/core/c/common.h in TF 2.21 (which calls
// itself "semi-ABI stable, append-only"); only the leading, stable fields are declared.
// The static_asserts pin the sizes measured on TF 2.21 (specs/x86-kernels.md §1):
// TfLiteTensor 112 bytes, TfLiteRegistration 88 bytes. Re-check for any other TF version.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {

typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

typedef enum {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt64 = 4,
  kTfLiteString = 5,
  kTfLiteBool = 6,
  kTfLiteInt16 = 7,
  kTfLiteComplex64 = 8,
  kTfLiteInt8 = 9,
} TfLiteType;

typedef enum {
  kTfLiteMemNone = 0,
  kTfLiteMmapRo = 1,
  kTfLiteArenaRw = 2,
  kTfLiteArenaRwPersistent = 3,
  kTfLiteDynamic = 4,
} TfLiteAllocationType;

typedef enum { kTfLiteNoQuantization = 0, kTfLiteAffineQuantization = 1 } TfLiteQuantizationType;

typedef struct TfLiteIntArray {
  int size;
  int data[];
} TfLiteIntArray;

typedef struct TfLiteFloatArray {
  int size;
  float data[];
} TfLiteFloatArray;

typedef struct {
  float scale;
  int32_t zero_point;
} TfLiteQuantizationParams;

typedef struct {
  TfLiteQuantizationType type;
  void* params;
} TfLiteQuantization;

typedef struct TfLiteAffineQuantization {
  TfLiteFloatArray* scale;
  TfLiteIntArray* zero_point;
  int32_t quantized_dimension;
} TfLiteAffineQuantization;

typedef union {
  int32_t* i32;
  int64_t* i64;
  float* f;
  char* raw;
  const char* raw_const;
  uint8_t* uint8;
  bool* b;
  int16_t* i16;
  int8_t* int8;
  void* data;
} TfLitePtrUnion;

typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  TfLiteIntArray* dims;
  TfLiteQuantizationParams params;
  TfLiteAllocationType allocation_type;
  size_t bytes;
  const void* allocation;
  const char* name;
  void* delegate;
  int buffer_handle;
  bool data_is_stale;
  bool is_variable;
  TfLiteQuantization quantization;
  void* sparsity;
  const TfLiteIntArray* dims_signature;
} TfLiteTensor;

typedef struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  TfLiteIntArray* temporaries;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
  // (further fields are not used)
} TfLiteNode;

struct TfLiteRegistration;

typedef struct TfLiteContext {
  size_t tensors_size;
  TfLiteStatus (*GetExecutionPlan)(struct TfLiteContext* context, TfLiteIntArray** execution_plan);
  TfLiteTensor* tensors;
  void* impl_;
  TfLiteStatus (*ResizeTensor)(struct TfLiteContext*, TfLiteTensor* tensor, TfLiteIntArray* new_size);
  void (*ReportError)(struct TfLiteContext*, const char* msg, ...);
  TfLiteStatus (*AddTensors)(struct TfLiteContext*, int tensors_to_add, int* first_new_tensor_index);
  TfLiteStatus (*GetNodeAndRegistration)(struct TfLiteContext*, int node_index, TfLiteNode** node,
                                         struct TfLiteRegistration** registration);
  void* ReplaceNodeSubsetsWithDelegateKernels;  // not used; signature irrelevant here
  int recommended_num_threads;
  // (further fields are not used)
} TfLiteContext;

typedef struct TfLiteRegistration {
  void* (*init)(TfLiteContext* context, const char* buffer, size_t length);
  void (*free)(TfLiteContext* context, void* buffer);
  TfLiteStatus (*prepare)(TfLiteContext* context, TfLiteNode* node);
  TfLiteStatus (*invoke)(TfLiteContext* context, TfLiteNode* node);
  const char* (*profiling_string)(const TfLiteContext* context, const TfLiteNode* node);
  int32_t builtin_code;
  const char* custom_name;
  int version;
  void* registration_external;
  void* async_kernel;
  uint64_t inplace_operator;
} TfLiteRegistration;

}  // extern "C"

static_assert(sizeof(TfLiteIntArray) == 4, "TfLiteIntArray layout");
static_assert(sizeof(TfLiteQuantizationParams) == 8, "TfLiteQuantizationParams layout");
static_assert(sizeof(TfLiteQuantization) == 16, "TfLiteQuantization layout");
static_assert(sizeof(TfLiteTensor) == 112, "TfLiteTensor must be 112 bytes (TF 2.21)");
static_assert(offsetof(TfLiteTensor, quantization) == 80, "TfLiteTensor.quantization offset");
static_assert(offsetof(TfLiteTensor, dims_signature) == 104, "TfLiteTensor.dims_signature offset");
static_assert(offsetof(TfLiteNode, custom_initial_data_size) == 56, "TfLiteNode layout");
static_assert(offsetof(TfLiteContext, ResizeTensor) == 32, "TfLiteContext.ResizeTensor offset");
static_assert(offsetof(TfLiteContext, ReportError) == 40, "TfLiteContext.ReportError offset");
static_assert(offsetof(TfLiteContext, recommended_num_threads) == 72, "TfLiteContext threads offset");
static_assert(sizeof(TfLiteRegistration) == 88, "TfLiteRegistration must be 88 bytes (TF 2.21)");
