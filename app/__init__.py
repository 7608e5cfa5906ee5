"""dnaHNet Explorer, the Streamlit app: `streamlit run app/main.py`. Pages compose `dnahnet` and `interpret`."""
