"""webglm.retriever"""
